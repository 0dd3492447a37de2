// me.js - the signed-in user's own pages: profile, password and two-factor
// authentication, sessions, and the security activity of the account.

import { h, mount } from "./common/dom.js";
import { api, p } from "./common/api.js";
import { session } from "./common/session.js";
import { header, section, badge, button, confirm, copyable, download, field, form, notice, table, time, pagedList } from "./common/ui.js";
import { qrSvg } from "./common/qr.js";
import { announce } from "./common/router.js";
import { createPasskey, passkeyError, passkeysSupported } from "./common/webauthn.js";

export async function profilePage(ctx) {
  const me = await ctx.app.loadMe();
  const verify = me.email_verified ? badge("Verified", "ok") : h("span", { class: "row" }, badge("Not verified", "warn"),
    button("Send verification email", async (e) => {
      await api.post("/v1/auth/verify-email/request");
      e.target.replaceWith(h("span", { role: "status" }, "Sent: open the link in the email within 24 hours."));
    }, { small: true }));
  const name = form({
    label: "Your name and language", submit: "Save",
    fields: [
      field({ name: "name", label: "Name", value: me.name, required: true, autocomplete: "name", attrs: { maxlength: 200 } }),
      field({
        name: "locale", label: "Language of emails", value: me.locale || "", autocomplete: "language", spellcheck: "false",
        hint: "A language tag such as “de” or “pt-BR”; emails use it when the service has texts in that language. Empty: the default.",
        attrs: { maxlength: 35 },
      }),
    ],
    async onSubmit(v) {
      const u = await api.patch("/v1/me", { name: v.name, locale: v.locale.trim() });
      ctx.app.me = { ...ctx.app.me, ...u };
      name.field("locale").control.value = u.locale || "";
      name.success("Saved.");
    },
  });
  return [
    header("Your account", { lead: me.email }),
    section("Profile", h("dl", { class: "props" },
      h("dt", null, "Email"), h("dd", null, me.email, " ", verify),
      h("dt", null, "Two-factor authentication"), h("dd", null, me.mfa_enabled ? badge("On", "ok") : h("span", null, badge("Off", "warn"), " ", h("a", { href: "/account/security" }, "Turn it on"))),
      h("dt", null, "Member since"), h("dd", null, time(me.created_at))), name.el),
    section("Organizations", table([
      { label: "Organization", render: (o) => h("a", { href: `/account/orgs/${encodeURIComponent(o.slug)}` }, o.name) },
      { label: "Your role", render: (o) => o.role },
      { label: "Kind", render: (o) => (o.personal ? "Personal" : "Team") },
    ], me.organizations, { caption: "Your organizations", empty: "You belong to no organization." }),
    h("p", null, h("a", { class: "btn btn-secondary", href: "/account/orgs/new" }, "New organization"))),
  ];
}

function passwordForm() {
  const f = form({
    label: "Change password", submit: "Change password",
    fields: [
      field({ name: "current_password", label: "Current password", type: "password", required: true, autocomplete: "current-password" }),
      field({ name: "new_password", label: "New password", type: "password", required: true, autocomplete: "new-password", hint: "At least 10 characters; common passwords are refused.", minlength: 10 }),
    ],
    async onSubmit(v) {
      await api.post("/v1/me/password", v);
      f.field("current_password").control.value = "";
      f.field("new_password").control.value = "";
      f.success("Your password is changed. Your other sessions were signed out.");
    },
  });
  return f.el;
}

function recoveryCodes(codes, done) {
  const text = `${codes.join("\n")}\n`;
  return h("div", { class: "recovery" },
    notice("warning", "Save these recovery codes somewhere safe. Each one signs you in once if you lose your authenticator. They are shown only now."),
    h("ul", { class: "codes", "aria-label": "Recovery codes" }, codes.map((c) => h("li", null, c))),
    h("div", { class: "row" },
      button("Copy codes", async () => { await navigator.clipboard.writeText(text); announce("Codes copied"); }, { small: true }),
      button("Download codes", () => download(new Blob([text], { type: "text/plain" }), "recovery-codes.txt"), { small: true }),
      done ? button("I have saved them", done, { kind: "primary", small: true }) : null));
}

function mfaSection(ctx) {
  const box = h("div");
  function draw() {
    const me = ctx.app.me;
    if (!me.mfa_enabled) {
      mount(box,
        h("p", null, "Protect your account with a code from an authenticator app in addition to your password."),
        button("Set up two-factor authentication", setup, { kind: "primary" }));
      return;
    }
    const regen = form({
      label: "New recovery codes", submit: "Make new recovery codes", submitKind: "secondary",
      fields: [field({ name: "password", label: "Password", type: "password", required: true, autocomplete: "current-password" })],
      async onSubmit(v) {
        const r = await api.post("/v1/me/mfa/recovery-codes", { password: v.password });
        mount(regenOut, recoveryCodes(r.recovery_codes, null));
        regen.field("password").control.value = "";
      },
    });
    const regenOut = h("div");
    const off = form({
      label: "Turn off two-factor authentication", submit: "Turn off 2FA", submitKind: "danger",
      fields: [
        field({ name: "password", label: "Password", type: "password", required: true, autocomplete: "current-password" }),
        field({ name: "code", label: "Authentication code", required: true, autocomplete: "one-time-code", inputmode: "numeric", spellcheck: "false" }),
      ],
      async onSubmit(v) {
        await api.post("/v1/me/mfa/totp/disable", { password: v.password, code: v.code.trim() });
        await ctx.app.loadMe();
        draw();
        announce("Two-factor authentication is off.");
      },
    });
    mount(box,
      notice("success", "Two-factor authentication is on."),
      h("h3", null, "Recovery codes"), h("p", { class: "hint" }, "Making new codes voids the old ones."), regen.el, regenOut,
      h("h3", null, "Turn off"), off.el);
  }

  async function setup() {
    const s = await api.post("/v1/me/mfa/totp/setup");
    const qr = qrSvg(s.qr_svg, "QR code for your authenticator app");
    const enable = form({
      label: "Confirm two-factor authentication", submit: "Turn on 2FA",
      fields: [field({ name: "code", label: "Code from the app", required: true, autocomplete: "one-time-code", inputmode: "numeric", spellcheck: "false", hint: "The 6-digit code your app shows now." })],
      async onSubmit(v) {
        const r = await api.post("/v1/me/mfa/totp/enable", { code: v.code.trim() });
        await ctx.app.loadMe();
        mount(box, notice("success", "Two-factor authentication is on."), recoveryCodes(r.recovery_codes, () => {
          draw();
          const first = box.querySelector("button");
          if (first) first.focus();
        }));
        announce("Two-factor authentication is on. Save your recovery codes.");
        box.querySelector(".codes").setAttribute("tabindex", "-1");
        box.querySelector(".codes").focus();
      },
    });
    mount(box,
      h("ol", { class: "steps" },
        h("li", null, "Scan this QR code with your authenticator app, or type the setup key into it."),
        h("li", null, "Enter the code the app shows.")),
      qr || notice("warning", "The QR code cannot be shown; use the setup key."),
      copyable("Setup key", s.secret, { secret: true }),
      h("p", { class: "hint" }, h("a", { href: s.otpauth_uri }, "Open in an authenticator app on this device")),
      enable.el);
    enable.field("code").control.focus();
  }

  draw();
  return box;
}

// Passkeys: listed, added with the browser's authenticator, removed.
async function passkeysSection() {
  const box = h("div");
  async function draw() {
    const keys = (await api.all("/v1/me/passkeys")).items;
    mount(box, table([
      { label: "Name", render: (k) => k.name },
      { label: "Added", render: (k) => time(k.created_at) },
      { label: "Last used", render: (k) => (k.last_used_at ? time(k.last_used_at) : "Never") },
      { label: "", render: (k) => button("Remove", async () => {
        if (!await confirm(`You will no longer sign in with “${k.name}”.`, { title: "Remove this passkey?", confirmLabel: "Remove", danger: true })) return;
        await api.del(p`/v1/me/passkeys/${k.id}`);
        announce(`Passkey ${k.name} removed.`);
        await draw();
      }, { small: true, aria: `Remove the passkey ${k.name}` }) },
    ], keys, { caption: "Your passkeys", empty: "No passkeys yet." }));
  }
  await draw();
  if (!passkeysSupported()) {
    return [box, notice("info", "This browser cannot create passkeys.")];
  }
  const add = form({
    label: "Add a passkey", submit: "Add a passkey",
    fields: [field({ name: "name", label: "Name", required: true, value: "Passkey", hint: "Which device or key it is, e.g. “Laptop”.", attrs: { maxlength: 100 } })],
    async onSubmit(v) {
      const options = await api.post("/v1/me/passkeys/register/options", {});
      let credential;
      try {
        credential = await createPasskey(options);
      } catch (err) {
        throw new Error(passkeyError(err) || `The passkey could not be created (${err.message}).`);
      }
      await api.post("/v1/me/passkeys", { name: v.name.trim() || "Passkey", credential });
      await draw();
      add.success(`Passkey ${v.name} added: you can sign in with it now.`);
    },
  });
  return [box, add.el];
}

// Accounts at identity providers linked to this one: listed and unlinked
// (the server keeps the last way to sign in).
async function identitiesSection() {
  const box = h("div");
  async function draw() {
    let ids;
    try {
      ids = (await api.all("/v1/me/identities")).items;
    } catch (err) {
      if (api.missing(err)) return mount(box);
      throw err;
    }
    mount(box, table([
      { label: "Provider", render: (i) => (i.provider === "sso" ? "Organization single sign-on" : i.provider) },
      { label: "Email", render: (i) => i.email || "" },
      { label: "Linked", render: (i) => time(i.created_at) },
      { label: "Last used", render: (i) => (i.last_used_at ? time(i.last_used_at) : "Never") },
      { label: "", render: (i) => button("Unlink", async () => {
        if (!await confirm(`You will no longer sign in with ${i.provider}.`, { title: "Unlink this account?", confirmLabel: "Unlink", danger: true })) return;
        try {
          await api.del(p`/v1/me/identities/${i.id}`);
        } catch (err) {
          if (err.code === "conflict") return announce("This is your only way to sign in: add a password or a passkey first.");
          throw err;
        }
        announce(`Unlinked ${i.provider}.`);
        await draw();
      }, { small: true, aria: `Unlink ${i.provider}` }) },
    ], ids, { caption: "Linked accounts", empty: "No linked accounts." }));
  }
  await draw();
  return box;
}

export async function securityPage(ctx) {
  await ctx.app.loadMe();
  return [
    header("Password and 2FA"),
    section("Password", passwordForm()),
    section("Two-factor authentication", mfaSection(ctx)),
    section("Passkeys", h("p", null, "Sign in with your fingerprint, face, screen lock or a security key instead of a password."), ...(await passkeysSection())),
    section("Linked accounts", h("p", null, "Accounts at other providers you sign in with."), await identitiesSection()),
  ];
}

function device(ua) {
  if (!ua) return "Unknown device";
  const browser = /Firefox\/[\d]+/.exec(ua) || /Edg\/[\d]+/.exec(ua) || /Chrom(?:e|ium)\/[\d]+/.exec(ua) || /Safari\/[\d]+/.exec(ua);
  const os = /Windows|Mac OS X|Android|iPhone|iPad|Linux/.exec(ua);
  return browser ? `${browser[0].replace("/", " ")}${os ? ` on ${os[0]}` : ""}` : ua.slice(0, 60);
}

export async function sessionsPage() {
  const box = h("div");
  async function draw() {
    const list = (await api.all("/v1/auth/sessions")).items;
    mount(box, table([
      { label: "Device", render: (s) => h("span", { title: s.user_agent }, device(s.user_agent), s.current ? h("span", null, " ", badge("This session", "info")) : null) },
      { label: "IP address", render: (s) => s.ip || "—" },
      { label: "Signed in", render: (s) => time(s.created_at) },
      { label: "Last used", render: (s) => time(s.last_used_at) },
      { label: "Expires", render: (s) => time(s.expires_at) },
      { label: "", render: (s) => button(s.current ? "Sign out" : "Revoke", async () => {
        if (s.current) return session.signOut();
        await api.del(p`/v1/auth/sessions/${s.id}`);
        announce("Session revoked.");
        await draw();
        return null;
      }, { small: true, aria: s.current ? "Sign out of this session" : `Revoke the session of ${device(s.user_agent)}, signed in ${new Date(s.created_at).toLocaleString()}` }) },
    ], list, { caption: "Your signed-in sessions" }));
  }
  await draw();
  const all = button("Sign out everywhere", async () => {
    if (!await confirm("Every session of your account, this one included, will be signed out.", { title: "Sign out everywhere?", confirmLabel: "Sign out everywhere", danger: true })) return;
    await api.post("/v1/auth/logout-all");
    session.clear("signed_out");
  }, { kind: "danger" });
  return [header("Sessions", { lead: "Where your account is signed in.", actions: [all] }), box];
}

export function activityPage() {
  return [
    header("Security activity", { lead: "Sign-ins, failed sign-ins and changes to your account's security." }),
    pagedList((cursor) => api.get("/v1/me/security-events", { cursor, limit: 50 }), (events) => table([
      { label: "Event", render: (e) => h("code", null, e.action) },
      { label: "IP address", render: (e) => e.ip || "—" },
      { label: "Device", render: (e) => device(e.user_agent) },
      { label: "When", render: (e) => time(e.created_at) },
    ], events, { caption: "Security events, newest first", empty: "No events yet." })),
  ];
}
