// Text-only DOM helpers shared by the dashboard's pages, loaded before each page's own script: nothing
// from the wire is parsed as HTML, every value becomes a text node or an attribute.
"use strict";

(() => {
  const svgNs = "http://www.w3.org/2000/svg"; // the SVG namespace name, not a URL that is loaded

  // el("tr", {class: "x", onclick: fn}, child, ...): children are nodes or text; null, undefined and false
  // (in props or children) are left out, true makes an empty attribute.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "style") node.style.cssText = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(svgNs, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const $ = (id) => document.getElementById(id);

  window.scDom = Object.freeze({ el, svg, $ });
})();
