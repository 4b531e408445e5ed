// Building the page from data. Names, ids and notes come from imports, devices and officers:
// they go in as text, never as markup.

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

export const byId = (id) => document.getElementById(id);

// An element for Leaflet, which takes a string tooltip or popup as HTML.
export const label = (text) => el("span", null, text);

export function option(value, text) {
  const o = el("option", null, text);
  o.value = value;
  return o;
}
