// auth.js - the sign-in form both apps use: email and password, or a
// passkey, then the second factor when the account asks for it (a TOTP code
// or a recovery code).

import { h, mount } from "./dom.js";
import { api } from "./api.js";
import { session } from "./session.js";
import { button, field, form, notice } from "./ui.js";
import { getPasskey, passkeyError, passkeysSupported } from "./webauthn.js";

// Returns the element; calls done(pair) once signed in (the session already
// holds the tokens). opts: {reason, links, mfaToken}: a notice to show first,
// nodes under the form (forgot password, sign up), and the second step of a
// sign-in begun elsewhere (an identity provider) to start at.
export function signInForm(done, { reason = null, links = null, mfaToken = null } = {}) {
  const box = h("div", { class: "signin" });

  function passwordStep() {
    const f = form({
      label: "Sign in",
      submit: "Sign in",
      fields: [
        field({ name: "email", label: "Email", type: "email", required: true, autocomplete: "username", spellcheck: "false" }),
        field({ name: "password", label: "Password", type: "password", required: true, autocomplete: "current-password" }),
      ],
      async onSubmit(v) {
        const r = await api.post("/v1/auth/login", { email: v.email, password: v.password, session_cookie: true }, { auth: false });
        if (r.mfa_required) mfaStep(r.mfa_token);
        else {
          session.adopt(r);
          await done(r);
        }
      },
    });
    mount(box, reason ? notice("info", reason) : null, f.el, passkeyStep(), links);
  }

  // "Use a passkey": any discoverable passkey of this site, or the ones of
  // the email typed above.
  function passkeyStep() {
    if (!passkeysSupported()) return null;
    const out = h("div", { class: "passkey-signin" });
    const b = button("Use a passkey", async () => {
      const email = (box.querySelector('input[name="email"]') || {}).value || "";
      const options = await api.post("/v1/auth/passkey/options", email.trim() ? { email: email.trim() } : {}, { auth: false });
      let credential;
      try {
        credential = await getPasskey(options);
      } catch (err) {
        throw new Error(passkeyError(err) || `No passkey was used (${err.message}).`);
      }
      const r = await api.post("/v1/auth/passkey", { credential, session_cookie: true }, { auth: false });
      if (r.mfa_required) mfaStep(r.mfa_token);
      else {
        session.adopt(r);
        await done(r);
      }
    });
    out.append(h("p", { class: "hint" }, "Or, without a password:"), b);
    return out;
  }

  function mfaStep(mfaToken) {
    const f = form({
      label: "Two-factor authentication",
      submit: "Verify",
      fields: [
        field({
          name: "code", label: "Authentication code", required: true, autocomplete: "one-time-code",
          spellcheck: "false", hint: "The 6-digit code from your authenticator app, or one of your recovery codes.",
        }),
      ],
      async onSubmit(v) {
        const r = await api.post("/v1/auth/login/mfa", { mfa_token: mfaToken, code: v.code.trim(), session_cookie: true }, { auth: false });
        session.adopt(r);
        await done(r);
      },
      extra: [h("button", { type: "button", class: "btn btn-ghost", on: { click: passwordStep } }, "Start over")],
    });
    mount(box, h("h2", { tabindex: "-1" }, "Two-factor authentication"),
      h("p", null, "Your account is protected with a second factor."), f.el);
    f.field("code").control.focus();
  }

  if (mfaToken) mfaStep(mfaToken);
  else passwordStep();
  return box;
}
