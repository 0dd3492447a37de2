// auth.js - the signed-out pages: sign in, create an account, reset a
// password, and the pages the emails link to (verify the email, accept an
// invitation, sign in with a link).

import { h, mount } from "./common/dom.js";
import { api } from "./common/api.js";
import { session } from "./common/session.js";
import { signInForm } from "./common/auth.js";
import { header, field, form, notice, button, loading } from "./common/ui.js";

const REASONS = {
  signed_out: "You are signed out.",
  expired: "Your session has ended. Sign in again.",
  session_revoked: "Your session was signed out. Sign in again.",
  invalid_token: "Your session has ended. Sign in again.",
  refresh_token_reused: "Your session was signed out for your safety. Sign in again.",
  account_disabled: "This account is disabled.",
};

function safeNext(next) {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

async function signedIn(ctx, next) {
  await ctx.app.loadMe();
  return ctx.router.go(safeNext(next), { replace: true });
}

const PASSWORD_HINT = "At least 10 characters; common passwords are refused.";

// Where identity providers send the browser back (listed in
// PLINTH_REDIRECT_ALLOWLIST by the operator).
function oauthReturn() {
  return `${location.origin}/account/oauth`;
}

// "Continue with …" for each identity provider of the instance, and single
// sign-on by work email; empty when the server has none.
function providerChoices() {
  const box = h("div", { class: "providers" });
  api.get("/v1/auth/providers", {}, { auth: false }).then((r) => {
    const to = encodeURIComponent(oauthReturn());
    const links = r.data.map((x) => h("a", {
      class: "btn btn-secondary",
      href: `/v1/auth/oauth/${encodeURIComponent(x.key)}/start?redirect_to=${to}`,
    }, `Continue with ${x.name}`));
    // single sign-on by the email typed in the sign-in form above
    const sso = button("Continue with single sign-on", async () => {
      const email = (document.querySelector('.signin input[name="email"]') || {}).value || "";
      if (!email.trim()) throw new Error("Type your work email above first.");
      const r2 = await api.post("/v1/auth/sso/start", { email: email.trim(), redirect_to: oauthReturn() }, { auth: false });
      location.assign(r2.url);
    });
    mount(box, h("p", { class: "hint" }, "Or with another account:"), ...links, sso);
  }).catch(() => mount(box));
  return box;
}

export function signInPage(ctx) {
  const reason = ctx.app.reason ? REASONS[ctx.app.reason] : null;
  ctx.app.reason = null;
  const next = ctx.query.get("next");
  return [
    header("Sign in"),
    signInForm(() => signedIn(ctx, next), {
      reason,
      links: h("p", { class: "links" }, h("a", { href: "/account/forgot-password" }, "Forgot your password?"), " · ",
        h("a", { href: "/account/sign-up" }, "Create an account")),
    }),
    providerChoices(),
  ];
}

const OAUTH_ERRORS = {
  access_denied: "The sign-in was refused or could not be verified.",
  email_taken: "An account with this email already exists. Sign in with it, then link this provider from your security settings.",
  sso_required: "Your organization requires signing in with its single sign-on.",
  invalid_request: "The provider did not say who you are (an email address is needed).",
};

// The end of a sign-in with an identity provider: ?code= to redeem, or
// ?error=.
export function oauthPage(ctx) {
  const code = ctx.query.get("code"), error = ctx.query.get("error");
  const box = h("div", null, loading("Signing you in…"));
  const again = h("a", { href: "/account/sign-in" }, "Sign in");
  if (error || !code) mount(box, notice("error", OAUTH_ERRORS[error] || "The sign-in did not complete."), again);
  else {
    api.post("/v1/auth/oauth/exchange", { code, session_cookie: true }, { auth: false }).then(async (r) => {
      if (r.mfa_required) {
        mount(box, signInForm(() => signedIn(ctx, "/"), { mfaToken: r.mfa_token }));
        return;
      }
      session.adopt(r);
      await signedIn(ctx, "/");
    }).catch((err) => {
      const msg = err.code === "invalid_token" ? "This sign-in expired or was already used; start again."
        : OAUTH_ERRORS[err.code] || err.message;
      mount(box, notice("error", msg), again);
    });
  }
  return [header("Signing in"), box];
}

export function signUpPage(ctx) {
  const invitation = ctx.query.get("invitation");
  const f = form({
    label: "Create your account", submit: "Create account",
    fields: [
      field({ name: "name", label: "Name", autocomplete: "name", attrs: { maxlength: 200 } }),
      field({ name: "email", label: "Email", type: "email", required: true, autocomplete: "email", spellcheck: "false" }),
      field({ name: "password", label: "Password", type: "password", required: true, autocomplete: "new-password", hint: PASSWORD_HINT, minlength: 10 }),
    ],
    async onSubmit(v) {
      const body = { name: v.name, email: v.email, password: v.password, session_cookie: true };
      if (invitation) body.invitation_token = invitation;
      const r = await api.post("/v1/auth/register", body, { auth: false });
      session.adopt(r);
      await ctx.app.loadMe();
      const joined = invitation && ctx.app.me.organizations.find((o) => !o.personal);
      return ctx.router.go(joined ? `/orgs/${encodeURIComponent(joined.slug)}` : "/", { replace: true });
    },
  });
  return [
    header("Create your account", { lead: invitation ? "Create an account to join the organization that invited you. Use the email address the invitation was sent to." : null }),
    f.el,
    h("p", null, "Already have an account? ", h("a", { href: "/account/sign-in" }, "Sign in")),
  ];
}

export function forgotPage() {
  const f = form({
    label: "Reset your password", submit: "Send reset link",
    fields: [field({ name: "email", label: "Email", type: "email", required: true, autocomplete: "email", spellcheck: "false" })],
    async onSubmit(v) {
      await api.post("/v1/auth/password-reset/request", { email: v.email }, { auth: false });
      f.success("If an account uses this address, an email with a reset link is on its way. The link works for one hour.");
    },
  });
  return [header("Reset your password", { lead: "We will email you a link to choose a new password." }), f.el,
    h("p", null, h("a", { href: "/account/sign-in" }, "Back to sign in"))];
}

export function resetPage(ctx) {
  const token = ctx.query.get("token");
  if (!token) return [header("Choose a new password"), notice("error", "This link is incomplete. Open the link from the email again, or ask for a new one."), h("a", { href: "/account/forgot-password" }, "Ask for a new link")];
  const box = h("div");
  const f = form({
    label: "New password", submit: "Set password",
    fields: [
      field({ name: "new_password", label: "New password", type: "password", required: true, autocomplete: "new-password", hint: PASSWORD_HINT, minlength: 10 }),
      field({ name: "confirm", label: "Repeat the new password", type: "password", required: true, autocomplete: "new-password" }),
    ],
    async onSubmit(v) {
      if (v.new_password !== v.confirm) {
        f.field("confirm").setError("The passwords differ.");
        f.field("confirm").control.focus();
        return;
      }
      await api.post("/v1/auth/password-reset", { token, new_password: v.new_password }, { auth: false });
      mount(box, notice("success", "Your password is changed, and every session was signed out."), h("a", { class: "btn btn-primary", href: "/account/sign-in" }, "Sign in"));
      box.querySelector("a").focus();
    },
  });
  mount(box, f.el);
  return [header("Choose a new password"), box];
}

export function verifyPage(ctx) {
  const token = ctx.query.get("token");
  const box = h("div", null, loading("Verifying your email…"));
  const home = () => (session.signedIn ? h("a", { href: "/account/" }, "Go to your account") : h("a", { href: "/account/sign-in" }, "Sign in"));
  if (!token) mount(box, notice("error", "This link is incomplete. Open the link from the email again."), home());
  else {
    api.post("/v1/auth/verify-email", { token }, { auth: false }).then(async () => {
      if (session.signedIn) await ctx.app.loadMe().catch(() => {});
      mount(box, notice("success", "Your email address is verified. Thank you."), home());
    }).catch((err) => {
      mount(box, notice("error", err.code === "invalid_token" ? "This link is invalid, used or expired (links work for 24 hours). Ask for a new one from your account page." : err.message), home());
    });
  }
  return [header("Verify your email"), box];
}

export function acceptPage(ctx) {
  const token = ctx.query.get("token");
  if (!token) return [header("Join an organization"), notice("error", "This invitation link is incomplete. Open the link from the email again.")];
  const box = h("div");
  function draw() {
    if (!session.signedIn) {
      mount(box,
        h("p", null, "You were invited to join an organization. Sign in with the email address the invitation was sent to, or create an account with it."),
        h("h2", null, "Sign in to accept"),
        signInForm(async () => {
          await ctx.app.loadMe();
          return ctx.router.reload();
        }),
        h("h2", null, "New here?"),
        h("p", null, h("a", { class: "btn btn-secondary", href: `/account/sign-up?invitation=${encodeURIComponent(token)}` }, "Create an account and join")));
      return;
    }
    const accept = button("Accept invitation", async () => {
      try {
        const o = await api.post("/v1/invitations/accept", { token });
        await ctx.app.loadMe();
        ctx.app.forget();
        return ctx.router.go(`/orgs/${encodeURIComponent(o.slug)}`, { replace: true });
      } catch (err) {
        if (err.code === "invalid_token") throw new Error("This invitation is invalid, revoked, used or expired (invitations last 7 days).");
        if (err.code === "forbidden") throw new Error(`This invitation was sent to another email address than ${ctx.app.me.email}.`);
        throw err;
      }
    }, { kind: "primary" });
    mount(box, h("p", null, `You are signed in as ${ctx.app.me ? ctx.app.me.email : "…"}.`), h("p", { class: "row" }, accept, h("a", { href: "/account/" }, "Not now")));
  }
  draw();
  return [header("Join an organization"), box];
}

export function magicPage(ctx) {
  const token = ctx.query.get("token");
  const box = h("div", null, loading("Signing you in…"));
  if (!token) mount(box, notice("error", "This link is incomplete. Open the link from the email again."));
  else {
    api.post("/v1/auth/magic-link/verify", { token, session_cookie: true }, { auth: false }).then(async (r) => {
      if (r.mfa_required) {
        mount(box, notice("info", "Your account has two-factor authentication: sign in with your password and code."), signInForm(() => signedIn(ctx, "/")));
        return;
      }
      session.adopt(r);
      await signedIn(ctx, "/");
    }).catch((err) => {
      if (api.missing(err)) mount(box, notice("info", "Sign-in links are not available on this server. Sign in with your password."), h("a", { class: "btn btn-primary", href: "/account/sign-in" }, "Sign in"));
      else mount(box, notice("error", err.code === "invalid_token" ? "This link is invalid, used or expired (links work for 15 minutes)." : err.message), h("a", { href: "/account/sign-in" }, "Sign in"));
    });
  }
  return [header("Sign in with a link"), box];
}
