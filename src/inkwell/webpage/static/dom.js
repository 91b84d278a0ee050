// A tiny element builder. Text always goes in as text nodes (never parsed as HTML), so data from the
// server cannot inject markup.

/**
 * el("button", {type: "button", className: "x", ariaLabel: "Close"}, ["Close"])
 * Properties named aria* become aria-* attributes; `hidden`, `disabled` etc. are set as properties.
 * Children are Nodes or strings (strings become text nodes).
 */
export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key.startsWith("aria") && key.length > 4) {
      node.setAttribute(`aria-${key.slice(4).toLowerCase()}`, String(value));
    } else if (key === "role") {
      node.setAttribute("role", String(value));
    } else {
      node[key] = value;
    }
  }
  for (const child of children) node.append(child); // strings are appended as text
  return node;
}

/** A CSS colour the browser accepts, else null (site themes come from app configuration). */
export function safeColor(value) {
  if (typeof value !== "string" || !value.trim()) return null;
  return CSS.supports("color", value) ? value : null;
}

/** An http(s) or same-origin URL, else null (never javascript: or data: from configuration). */
export function safeUrl(value) {
  if (typeof value !== "string" || !value.trim()) return null;
  try {
    const url = new URL(value, window.location.href);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}
