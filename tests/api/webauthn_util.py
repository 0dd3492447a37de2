"""webauthn_util.py - a WebAuthn authenticator and client emulated in Python, for
the passkey API tests: it answers plinth's options the way a browser and a
security key would (PublicKeyCredential.toJSON()), and can be told to forge any
part of it (origin, challenge, RP id, flags, counter, signature).

Keys and signatures come from Debian's python3-cryptography (an implementation
independent of plinth's OpenSSL calls); CBOR is encoded here (the few types
WebAuthn uses).

    auth = Authenticator()                     # ES256; Authenticator("EdDSA")
    cred = auth.create(options["publicKey"], ORIGIN)
    assertion = auth.get(options["publicKey"], ORIGIN)
"""

import base64
import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

UP, UV, BE, BS, AT, ED = 0x01, 0x04, 0x08, 0x10, 0x40, 0x80


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


# --- CBOR (RFC 8949), canonical enough for CTAP2 -----------------------------------

def _head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for info, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | info]) + struct.pack(fmt, n)
    raise ValueError(n)


def cbor(v):
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return _head(0, v) if v >= 0 else _head(1, -1 - v)
    if isinstance(v, bytes):
        return _head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode()
        return _head(3, len(b)) + b
    if isinstance(v, list):
        return _head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        return _head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v.items())
    raise TypeError(type(v))


# --- the authenticator ----------------------------------------------------------------

class Credential:
    def __init__(self, alg, user_handle, rp_id):
        self.alg = alg
        self.id = os.urandom(16)
        self.user_handle = user_handle
        self.rp_id = rp_id
        self.counter = 0
        if alg == "ES256":
            self.key = ec.generate_private_key(ec.SECP256R1())
        else:
            self.key = ed25519.Ed25519PrivateKey.generate()

    def cose_key(self):
        pub = self.key.public_key()
        if self.alg == "ES256":
            n = pub.public_numbers()
            return {1: 2, 3: -7, -1: 1, -2: n.x.to_bytes(32, "big"), -3: n.y.to_bytes(32, "big")}
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {1: 1, 3: -8, -1: 6, -2: raw}

    def sign(self, msg):
        if self.alg == "ES256":
            return self.key.sign(msg, ec.ECDSA(hashes.SHA256()))
        return self.key.sign(msg)


class Authenticator:
    """A passkey provider with user verification (uv) and a sign counter per
    credential (counting=False keeps it at 0, as synced passkeys do)."""

    def __init__(self, alg="ES256", uv=True, counting=True):
        self.alg = alg
        self.uv = uv
        self.counting = counting
        self.credentials = []

    def client_data(self, type_, challenge, origin, **extra):
        d = {"type": type_, "challenge": challenge, "origin": origin, "crossOrigin": False}
        d.update(extra)
        return json.dumps(d, separators=(",", ":")).encode()

    def auth_data(self, rp_id, flags, counter, attested=b""):
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + \
            struct.pack(">I", counter) + attested

    def create(self, pk, origin, fmt="none", rp_id=None, challenge=None, up=True, uv=None,
               type_="webauthn.create", cred=None, keep=True):
        """A RegistrationResponseJSON for creation options pk."""
        rp = rp_id or pk["rp"]["id"]
        c = cred or Credential(self.alg, b64u_decode(pk["user"]["id"]), pk["rp"]["id"])
        uv = self.uv if uv is None else uv
        flags = (UP if up else 0) | (UV if uv else 0) | AT
        attested = b"\x00" * 16 + struct.pack(">H", len(c.id)) + c.id + cbor(c.cose_key())
        ad = self.auth_data(rp, flags, c.counter, attested)
        cdj = self.client_data(type_, challenge or pk["challenge"], origin)
        if fmt == "none":
            stmt = {}
        elif fmt == "packed":   # self attestation
            sig = c.sign(ad + hashlib.sha256(cdj).digest())
            stmt = {"alg": -7 if c.alg == "ES256" else -8, "sig": sig}
        else:
            stmt = {}
        att = cbor({"fmt": fmt, "attStmt": stmt, "authData": ad})
        if keep and cred is None:
            self.credentials.append(c)
        self.last = c
        return {
            "id": b64u(c.id), "rawId": b64u(c.id), "type": "public-key",
            "authenticatorAttachment": "platform", "clientExtensionResults": {},
            "response": {"clientDataJSON": b64u(cdj), "attestationObject": b64u(att),
                         "transports": ["internal", "hybrid"]},
        }

    def get(self, pk, origin, cred=None, rp_id=None, challenge=None, up=True, uv=None,
            counter=None, type_="webauthn.get", bad_signature=False, user_handle=None,
            sign_with=None):
        """An AuthenticationResponseJSON for request options pk."""
        c = cred or self.credentials[-1]
        if counter is None:
            if self.counting:
                c.counter += 1
            counter = c.counter
        uv = self.uv if uv is None else uv
        flags = (UP if up else 0) | (UV if uv else 0)
        ad = self.auth_data(rp_id or pk["rpId"], flags, counter)
        cdj = self.client_data(type_, challenge or pk["challenge"], origin)
        sig = (sign_with or c).sign(ad + hashlib.sha256(cdj).digest())
        if bad_signature:
            sig = bytearray(sig)
            sig[-5] ^= 0x40
            sig = bytes(sig)
        handle = c.user_handle if user_handle is None else user_handle
        return {
            "id": b64u(c.id), "rawId": b64u(c.id), "type": "public-key",
            "authenticatorAttachment": "platform", "clientExtensionResults": {},
            "response": {"clientDataJSON": b64u(cdj), "authenticatorData": b64u(ad),
                         "signature": b64u(sig), "userHandle": b64u(handle)},
        }
