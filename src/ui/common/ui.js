// ui.js - the small set of accessible building blocks both apps draw with:
// labelled fields with their errors, forms that show API errors where they
// belong, tables, notices, badges, confirmation dialogs, paged lists.

import { h, id, mount } from "./dom.js";
import { ApiError } from "./api.js";
import { announce } from "./router.js";

// ---- text ----

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const numFmt = new Intl.NumberFormat();

// A <time> element for an RFC 3339 string (or "—" when null).
export function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const d = new Date(iso);
  return h("time", { datetime: iso, title: iso }, Number.isNaN(d.getTime()) ? iso : dateFmt.format(d));
}

export function num(n) {
  return numFmt.format(n);
}

// "3 organizations" / "1 organization".
export function plural(n, one, many = `${one}s`) {
  return `${num(n)} ${n === 1 ? one : many}`;
}

// ---- page structure ----

// The view's heading (focused on route changes) and its actions.
export function header(title, { lead = null, actions = [] } = {}) {
  return h("div", { class: "page-header" },
    h("div", null, h("h1", { tabindex: "-1" }, title), lead && h("p", { class: "lead" }, lead)),
    actions.length ? h("div", { class: "actions" }, actions) : null);
}

// A titled section; its heading labels it for assistive technology.
export function section(title, ...children) {
  const hid = id("sec");
  return h("section", { class: "card", "aria-labelledby": hid }, h("h2", { id: hid }, title), children);
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, text);
}

// kind: "info" | "success" | "warning" | "error". Errors are alerts.
export function notice(kind, ...content) {
  return h("div", { class: ["notice", `notice-${kind}`], role: kind === "error" ? "alert" : "status" }, content);
}

export function errorNotice(err) {
  const msg = err instanceof ApiError ? err.message : "Something went wrong.";
  return notice("error", msg);
}

// kind: "ok" | "bad" | "warn" | "neutral" | "info".
export function badge(text, kind = "neutral", label = null) {
  return h("span", { class: ["badge", `badge-${kind}`], "aria-label": label }, text);
}

// A link styled as a button or plain link inside the app.
export function link(href, text, { cls = null, label = null } = {}) {
  return h("a", { href, class: cls, "aria-label": label }, text);
}

// A button whose async handler disables it while it runs and shows an
// error (as an alert after the button) when it throws.
export function button(label, onClick, { kind = "secondary", type = "button", aria = null, small = false } = {}) {
  const b = h("button", { type, class: ["btn", `btn-${kind}`, small && "btn-small"], "aria-label": aria }, label);
  if (onClick) {
    b.addEventListener("click", async (e) => {
      if (b.disabled) return;
      b.disabled = true;
      b.setAttribute("aria-busy", "true");
      const old = b.nextElementSibling;
      if (old && old.classList.contains("inline-error")) old.remove();
      try {
        await onClick(e);
      } catch (err) {
        b.after(h("span", { class: "inline-error", role: "alert" }, err.message || String(err)));
      } finally {
        b.disabled = false;
        b.removeAttribute("aria-busy");
      }
    });
  }
  return b;
}

// ---- fields and forms ----

// A labelled control. opts: name, label, type (text, email, password, number,
// checkbox, select, textarea, range), value, hint, required, autocomplete,
// options ([[value, label]] for select), plus any input attributes in attrs.
export function field(opts) {
  const fid = id(`f-${opts.name}`);
  const hintId = opts.hint ? `${fid}-hint` : null;
  const errId = `${fid}-err`;
  const type = opts.type || "text";
  let control;
  const common = {
    id: fid, name: opts.name, required: !!opts.required, disabled: !!opts.disabled,
    "aria-describedby": [hintId, errId].filter(Boolean).join(" "), ...(opts.attrs || {}),
  };
  if (type === "select") {
    control = h("select", common, (opts.options || []).map(([v, l]) =>
      h("option", { value: v, selected: String(v) === String(opts.value ?? "") }, l)));
  } else if (type === "textarea") {
    control = h("textarea", { ...common, rows: opts.rows || 3 });
    control.value = opts.value ?? "";
  } else if (type === "checkbox") {
    control = h("input", { ...common, type, checked: !!opts.value });
  } else {
    control = h("input", { ...common, type, value: opts.value ?? "", autocomplete: opts.autocomplete,
      inputmode: opts.inputmode, min: opts.min, max: opts.max, step: opts.step,
      minlength: opts.minlength, maxlength: opts.maxlength, placeholder: opts.placeholder,
      pattern: opts.pattern, spellcheck: opts.spellcheck });
  }
  const err = h("p", { id: errId, class: "field-error" });
  const label = h("label", { for: fid }, opts.label, opts.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null);
  const el = type === "checkbox"
    ? h("div", { class: "field field-check" }, control, label, opts.hint && h("p", { id: hintId, class: "hint" }, opts.hint), err)
    : h("div", { class: "field" }, label, opts.hint && h("p", { id: hintId, class: "hint" }, opts.hint), control, err);
  return {
    el, control, name: opts.name,
    value() {
      if (type === "checkbox") return control.checked;
      if (type === "number" || type === "range") return control.value === "" ? null : Number(control.value);
      return control.value;
    },
    setError(msg) {
      err.textContent = msg || "";
      if (msg) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    },
  };
}

// A form of fields. onSubmit(values, form) may throw an ApiError: its field
// errors appear under their fields (names mapped through opts.fieldMap), the
// rest in an alert at the top, and focus moves to the first problem.
export function form({ fields, submit = "Save", onSubmit, extra = [], cls = null, label = null, submitKind = "primary" }) {
  const status = h("div", { class: "form-status" });
  const btn = h("button", { type: "submit", class: ["btn", `btn-${submitKind}`] }, submit);
  const f = h("form", { class: ["form", cls], novalidate: true, "aria-label": label },
    status, fields.map((x) => x.el), h("div", { class: "form-actions" }, btn, extra));
  const api = {
    el: f, fields, status,
    values() {
      const out = {};
      for (const x of fields) out[x.name] = x.value();
      return out;
    },
    field(name) {
      return fields.find((x) => x.name === name);
    },
    showError(err) {
      const problems = [];
      let first = null;
      if (err instanceof ApiError) {
        for (const e of err.errors) {
          const fx = fields.find((x) => x.name === e.field);
          if (fx) {
            fx.setError(e.message || e.code);
            first = first || fx.control;
          } else problems.push(`${e.field}: ${e.message || e.code}`);
        }
        if (!err.errors.length || problems.length) problems.unshift(err.message);
      } else problems.push(err.message || String(err));
      if (problems.length) {
        mount(status, notice("error", problems.join(" ")));
        if (!first) {
          status.setAttribute("tabindex", "-1");
          status.focus();
        }
      }
      if (first) first.focus();
    },
    clear() {
      status.replaceChildren();
      for (const x of fields) x.setError("");
    },
    success(text) {
      // a status region: screen readers read it out when it appears
      mount(status, notice("success", text));
    },
  };
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (btn.disabled) return;
    api.clear();
    // the browser's own checks first, shown the same way as the server's
    const invalid = fields.find((x) => x.control.willValidate && !x.control.checkValidity());
    if (invalid) {
      for (const x of fields) if (x.control.willValidate && !x.control.checkValidity()) x.setError(x.control.validationMessage);
      invalid.control.focus();
      return;
    }
    btn.disabled = true;
    f.setAttribute("aria-busy", "true");
    try {
      await onSubmit(api.values(), api);
    } catch (err) {
      api.showError(err);
    } finally {
      btn.disabled = false;
      f.removeAttribute("aria-busy");
    }
  });
  return api;
}

// ---- tables and lists ----

// columns: [{label, render(row) -> node|string, cls}]; rows: array.
// Wide tables scroll inside a focusable, labelled region (keyboard users
// can scroll it too).
export function table(columns, rows, { caption, empty = "Nothing here yet." } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  const capId = id("cap");
  const t = h("table", { class: "table" },
    h("caption", { id: capId, class: caption ? null : "visually-hidden" }, caption || "List"),
    h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col", class: c.cls }, c.label)))),
    h("tbody", null, rows.map((r) => tableRow(columns, r))));
  return h("div", { class: "table-wrap", role: "region", "aria-labelledby": capId, tabindex: "0" }, t);
}

function tableRow(columns, r) {
  return h("tr", null, columns.map((c, i) => {
    const v = c.render ? c.render(r) : r[c.key];
    return i === 0 && c.header !== false ? h("th", { scope: "row", class: c.cls }, v) : h("td", { class: c.cls }, v);
  }));
}

// A list that loads page after page: load(cursor) -> {data, next_cursor};
// draw(items) -> node (drawn again with every item loaded so far).
export function pagedList(load, draw) {
  const box = h("div", { class: "paged" });
  let items = [];
  let cursor = null;
  async function more(first) {
    const page = await load(cursor);
    items = items.concat(page.data);
    cursor = page.next_cursor;
    const btn = cursor ? button("Load more", async () => {
      await more(false);
      announce(`${items.length} shown`);
    }) : null;
    mount(box, draw(items), btn && h("div", { class: "more" }, btn));
    if (!first && btn) btn.focus();
  }
  mount(box, loading());
  more(true).catch((err) => mount(box, errorNotice(err)));
  return box;
}

// ---- dialogs ----

// Asks to confirm; resolves true or false. A modal <dialog>: focus moves in,
// Escape cancels, focus returns to the trigger.
export function confirm(message, { title = "Are you sure?", confirmLabel = "Confirm", danger = false } = {}) {
  return new Promise((resolve) => {
    const back = document.activeElement;
    const tid = id("dlg");
    const did = id("dlgd");
    const dlg = h("dialog", { class: "dialog", "aria-labelledby": tid, "aria-describedby": did },
      h("h2", { id: tid }, title),
      h("p", { id: did }, message),
      h("form", { method: "dialog", class: "form-actions" },
        h("button", { class: "btn btn-secondary", value: "cancel" }, "Cancel"),
        h("button", { class: ["btn", danger ? "btn-danger" : "btn-primary"], value: "ok" }, confirmLabel)));
    dlg.addEventListener("close", () => {
      dlg.remove();
      if (back && back.isConnected) back.focus();
      resolve(dlg.returnValue === "ok");
    });
    document.body.append(dlg);
    dlg.showModal();
    dlg.querySelector("button[value=cancel]").focus();
  });
}

// A read-only value with a copy button (secrets shown once, codes).
export function copyable(label, value, { secret = false } = {}) {
  const fid = id("copy");
  const input = h("input", { id: fid, type: "text", value, readonly: true, class: "mono", spellcheck: "false" });
  const btn = button("Copy", async () => {
    await navigator.clipboard.writeText(value);
    announce("Copied");
  }, { small: true, aria: `Copy ${label}` });
  return h("div", { class: ["field", "copyable", secret && "secret"] },
    h("label", { for: fid }, label), h("div", { class: "copy-row" }, input, btn));
}

// Saves a Blob as a file named name.
export function download(blob, name) {
  const u = URL.createObjectURL(blob);
  const a = h("a", { href: u, download: name, class: "visually-hidden" }, name);
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(u), 1000);
}

// A group of checkboxes in a fieldset; value() is the list of checked
// values. options: [{value, label, hint, disabled}].
export function checkboxes({ name, legend, options, checked = [], hint = null }) {
  const gid = id(`g-${name}`);
  const err = h("p", { id: `${gid}-err`, class: "field-error" });
  const boxes = options.map((o) => {
    const cid = id(`c-${name}`);
    const input = h("input", { type: "checkbox", id: cid, name, value: o.value, checked: checked.includes(o.value), disabled: !!o.disabled });
    return { input, el: h("div", { class: "field-check" }, input, h("label", { for: cid }, o.label), o.hint ? h("p", { class: "hint" }, o.hint) : null) };
  });
  const el = h("fieldset", { class: "field checks", "aria-describedby": `${gid}-err` },
    h("legend", null, legend), hint && h("p", { class: "hint" }, hint), h("div", { class: "check-grid" }, boxes.map((b) => b.el)), err);
  return {
    el, name,
    control: boxes.length ? boxes[0].input : el,
    value: () => boxes.filter((b) => b.input.checked).map((b) => b.input.value),
    setError(msg) { err.textContent = msg || ""; },
  };
}
