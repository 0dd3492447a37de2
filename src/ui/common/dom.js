// dom.js - building DOM nodes without HTML strings.
//
// Every text that reaches the page goes through textContent or an attribute;
// nothing here parses HTML, so a server string can never become markup.

const SVG_NS = "http://www.w3.org/2000/svg";
// Properties set as DOM properties rather than attributes.
const PROPS = new Set(["value", "checked", "disabled", "selected", "hidden", "required",
  "readOnly", "multiple", "indeterminate"]);

function apply(el, props) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false && !PROPS.has(k)) continue;
    if (k === "class") el.setAttribute("class", Array.isArray(v) ? v.filter(Boolean).join(" ") : v);
    else if (k === "text") el.textContent = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// h("a", {href: "/x", class: "btn"}, "text", child, [more]) -> HTMLElement.
// props: attributes; `class` (string or list), `text`, `on: {event: fn}`,
// `dataset`, and DOM properties (value, checked, disabled, ...).
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  apply(el, props);
  append(el, children);
  return el;
}

// The same for SVG elements.
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, props);
  append(el, children);
  return el;
}

// Replaces el's children.
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
// A document-unique id with a readable prefix (for label/aria wiring).
export function id(prefix = "id") {
  uid += 1;
  return `${prefix}-${uid}`;
}

export { SVG_NS };
