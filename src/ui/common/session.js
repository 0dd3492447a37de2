// session.js - the token holder: who is signed in, and their tokens, in memory.
//
// Access tokens live in this module's memory only: never in localStorage,
// sessionStorage, cookies readable by script or the URL, so a script
// injected into another tab or a stolen disk cannot read them. Sign-in asks
// for a browser session (`"session_cookie": true`): the server keeps the
// refresh token in the HttpOnly `plinth_refresh` cookie (path /v1/auth) and
// leaves it out of the body; refreshing sends that cookie with
// `X-Plinth-CSRF: 1`, and `restore()` signs a reloaded page back in. A pair
// that does carry a refresh token (a server without browser sessions) keeps
// it in memory beside the access token, and a reload then signs out.

const EARLY_MS = 30 * 1000; // refresh this long before the access token expires

export class Session extends EventTarget {
  #access = null;
  #expiresAt = 0;
  #refresh = null; // the body refresh token, when the server sent one
  #cookie = false; // the refresh token is the plinth_refresh cookie
  #refreshing = null;
  user = null;

  get signedIn() {
    return this.#access !== null;
  }

  // Takes a TokenPair from sign-in, registration or refresh.
  adopt(pair) {
    this.#access = pair.access_token;
    this.#expiresAt = Date.now() + (pair.expires_in || 900) * 1000;
    if (pair.refresh_token) {
      this.#refresh = pair.refresh_token;
      this.#cookie = false;
    } else {
      this.#refresh = null;
      this.#cookie = true;
    }
    if (pair.user) this.user = pair.user;
    this.dispatchEvent(new CustomEvent("change", { detail: { signedIn: true } }));
  }

  // Forgets everything (reason: why, for the sign-in page to say).
  clear(reason = null) {
    const was = this.#access !== null;
    this.#access = null;
    this.#refresh = null;
    this.#cookie = false;
    this.#expiresAt = 0;
    this.user = null;
    if (was) this.dispatchEvent(new CustomEvent("change", { detail: { signedIn: false, reason } }));
  }

  // The access token, refreshed first when it is about to expire; null when
  // signed out.
  async token() {
    if (this.#access && Date.now() > this.#expiresAt - EARLY_MS) await this.refresh();
    return this.#access;
  }

  // Exchanges the refresh token for a new pair (one request at a time).
  // Returns true on success; on failure the session is cleared.
  refresh() {
    if (!this.#refreshing) {
      this.#refreshing = this.#doRefresh().finally(() => { this.#refreshing = null; });
    }
    return this.#refreshing;
  }

  async #doRefresh() {
    if (!this.#refresh && !this.#cookie) return false;
    const headers = { "Content-Type": "application/json" };
    const body = {};
    if (this.#refresh) body.refresh_token = this.#refresh;
    else headers["X-Plinth-CSRF"] = "1";
    let r;
    try {
      r = await fetch("/v1/auth/refresh", {
        method: "POST", headers, body: JSON.stringify(body), credentials: "same-origin",
      });
    } catch {
      return false; // offline: keep the tokens, the next call tries again
    }
    if (!r.ok) {
      this.clear("expired");
      return false;
    }
    const pair = await r.json();
    const user = this.user;
    this.adopt(pair);
    if (!pair.user) this.user = user;
    return true;
  }

  // After a reload or in a new tab: signs back in from the refresh cookie
  // (one browser session per origin, shared by both apps). Returns whether
  // a session was restored; without a cookie the page starts signed out.
  async restore() {
    this.#cookie = true;
    if (await this.refresh()) return true;
    this.#cookie = false;
    return false;
  }

  // Forgets the session here without revoking it (another app of this
  // origin may go on using it).
  forget(reason = null) {
    this.clear(reason);
  }

  // Revokes the session on the server (best effort) and forgets it.
  async signOut() {
    const token = this.#access;
    if (token) {
      try {
        await fetch("/v1/auth/logout", {
          method: "POST", headers: { Authorization: `Bearer ${token}` }, credentials: "same-origin",
        });
      } catch { /* signed out here all the same */ }
    }
    this.clear("signed_out");
  }
}

export const session = new Session();
