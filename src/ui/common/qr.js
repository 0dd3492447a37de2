// qr.js - draws the server's QR code SVG without trusting it as markup.
//
// The SVG text is parsed as XML (DOMParser, which runs nothing) and rebuilt
// element by element from an allow-list of shapes and geometry attributes:
// no scripts, event handlers, links, styles, foreign objects or references
// survive, whatever the string holds. What is not a well-formed SVG of those
// shapes draws nothing.

import { s } from "./dom.js";

const ELEMENTS = new Set(["svg", "g", "rect", "path", "polygon", "circle"]);
const ATTRS = new Set(["x", "y", "width", "height", "viewBox", "d", "points", "cx", "cy", "r",
  "fill", "transform", "shape-rendering", "fill-rule", "stroke", "stroke-width"]);
// Values of the allowed attributes: numbers, colours, path data, transforms.
const SAFE_VALUE = /^[#\w\s.,()%+-]*$/;

function rebuild(node, depth) {
  if (depth > 8 || !ELEMENTS.has(node.localName) || node.namespaceURI !== "http://www.w3.org/2000/svg") return null;
  const el = s(node.localName, null);
  for (const a of Array.from(node.attributes)) {
    if (ATTRS.has(a.name) && SAFE_VALUE.test(a.value) && !/url\s*\(/i.test(a.value)) el.setAttribute(a.name, a.value);
  }
  for (const c of Array.from(node.children)) {
    const r = rebuild(c, depth + 1);
    if (r) el.append(r);
  }
  return el;
}

// An <svg> element safe to insert, labelled label; null when text is not a
// usable SVG.
export function qrSvg(text, label) {
  const doc = new DOMParser().parseFromString(String(text), "image/svg+xml");
  const root = doc.documentElement;
  if (!root || root.getElementsByTagName("parsererror").length) return null;
  const el = rebuild(root, 0);
  if (!el || el.localName !== "svg") return null;
  if (!el.getAttribute("viewBox") && el.getAttribute("width") && el.getAttribute("height")) {
    el.setAttribute("viewBox", `0 0 ${parseFloat(el.getAttribute("width"))} ${parseFloat(el.getAttribute("height"))}`);
  }
  el.removeAttribute("width");
  el.removeAttribute("height");
  el.setAttribute("role", "img");
  el.setAttribute("aria-label", label);
  el.setAttribute("class", "qr");
  return el;
}
