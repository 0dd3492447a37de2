// webauthn.js - passkeys in the browser: the API's options JSON (binary
// values base64url) to navigator.credentials and the credential back to JSON.
// Uses the browser's parse…FromJSON / toJSON where it has them.

export function passkeysSupported() {
  return typeof window.PublicKeyCredential === "function" && !!navigator.credentials;
}

function fromB64u(s) {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

function toB64u(buf) {
  const bytes = new Uint8Array(buf);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function descriptors(list) {
  return (list || []).map((d) => ({ ...d, id: fromB64u(d.id) }));
}

function creationOptions(o) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(o);
  return { ...o, challenge: fromB64u(o.challenge), user: { ...o.user, id: fromB64u(o.user.id) }, excludeCredentials: descriptors(o.excludeCredentials) };
}

function requestOptions(o) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(o);
  return { ...o, challenge: fromB64u(o.challenge), allowCredentials: descriptors(o.allowCredentials) };
}

function credentialJSON(c) {
  if (typeof c.toJSON === "function") return c.toJSON();
  const r = c.response;
  const response = { clientDataJSON: toB64u(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toB64u(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = toB64u(r.authenticatorData);
    response.signature = toB64u(r.signature);
    if (r.userHandle) response.userHandle = toB64u(r.userHandle);
  }
  return {
    id: c.id, rawId: toB64u(c.rawId), type: c.type, response,
    authenticatorAttachment: c.authenticatorAttachment || undefined,
    clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
  };
}

// A new passkey for the options of POST /v1/me/passkeys/register/options.
export async function createPasskey(options) {
  const cred = await navigator.credentials.create({ publicKey: creationOptions(options.publicKey) });
  return credentialJSON(cred);
}

// An assertion for the options of POST /v1/auth/passkey/options.
export async function getPasskey(options) {
  const cred = await navigator.credentials.get({ publicKey: requestOptions(options.publicKey) });
  return credentialJSON(cred);
}

// A user-facing sentence for a WebAuthn DOMException.
export function passkeyError(err) {
  if (err && err.name === "NotAllowedError") return "The passkey request was cancelled or timed out.";
  if (err && err.name === "InvalidStateError") return "This authenticator already holds a passkey for your account.";
  if (err && err.name === "SecurityError") return "Passkeys are not available on this address (the server's passkey settings name another domain).";
  return null;
}
