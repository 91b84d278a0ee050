// The input form, built from `user_input_form` of `/api/parameters`: a list of single-key objects
// `{"<type>": {"variable", "label", "required", "max_length", "options", "default", ...}}` with the
// types text-input, paragraph, select, number and checkbox. Items of other types (external data
// tools, files) and hidden items are filled by the server and are not shown.

import { el } from "./dom.js";

const SHOWN_TYPES = new Set(["text-input", "paragraph", "select", "number", "checkbox"]);

/** The form items the page shows, normalised: `{type, variable, label, required, maxLength, options,
 * defaultValue, description}`. */
export function formFields(userInputForm) {
  const fields = [];
  if (!Array.isArray(userInputForm)) return fields;
  for (const item of userInputForm) {
    if (!item || typeof item !== "object") continue;
    const type = Object.keys(item)[0];
    const spec = item[type];
    if (!SHOWN_TYPES.has(type) || !spec || typeof spec !== "object" || spec.hide === true) continue;
    if (typeof spec.variable !== "string" || !spec.variable) continue;
    const maxLength = Number.isInteger(spec.max_length) && spec.max_length > 0 ? spec.max_length : null;
    fields.push({
      type,
      variable: spec.variable,
      label: typeof spec.label === "string" && spec.label ? spec.label : spec.variable,
      required: spec.required === true,
      maxLength: type === "text-input" || type === "paragraph" ? maxLength : null,
      options: Array.isArray(spec.options) ? spec.options.filter((o) => typeof o === "string") : [],
      defaultValue: spec.default,
      description: typeof spec.description === "string" ? spec.description : "",
    });
  }
  return fields;
}

let idCounter = 0;

/** One rendered field: its DOM, how to read its value and how to show an error on it. */
class Field {
  constructor(spec) {
    this.spec = spec;
    idCounter += 1;
    const id = `field-${idCounter}`;
    this.errorId = `${id}-error`;
    const hintId = `${id}-hint`;
    this.control = this.makeControl(id);
    this.error = el("p", { className: "field-error", id: this.errorId, hidden: true });
    const describedBy = [this.errorId];
    const label = el("label", { htmlFor: id, className: "field-label" }, [spec.label]);
    if (spec.required) {
      label.append(" ", el("span", { className: "required-mark", ariaHidden: "true", title: "required" }, ["*"]));
      this.control.required = true;
      this.control.setAttribute("aria-required", "true");
    } else {
      label.append(" ", el("span", { className: "optional-mark" }, ["(optional)"]));
    }
    const parts = [];
    if (spec.type === "checkbox") {
      parts.push(el("div", { className: "checkbox-row" }, [this.control, label]));
    } else {
      parts.push(label, this.control);
    }
    const meta = el("div", { className: "field-meta" });
    if (spec.description) {
      meta.append(el("p", { className: "field-hint", id: hintId }, [spec.description]));
      describedBy.push(hintId);
    }
    if (spec.maxLength !== null) {
      const counterId = `${id}-count`;
      this.counter = el("p", { className: "field-count", id: counterId, ariaLive: "off" });
      meta.append(this.counter);
      describedBy.push(counterId);
      this.control.addEventListener("input", () => this.updateCounter());
    }
    this.control.setAttribute("aria-describedby", describedBy.join(" "));
    this.control.addEventListener("input", () => this.setError(""));
    this.control.addEventListener("change", () => this.setError(""));
    this.root = el("div", { className: `field field-${spec.type}` }, [...parts, meta, this.error]);
    this.root.dataset.variable = spec.variable;
    this.reset();
  }

  makeControl(id) {
    const { spec } = this;
    let control;
    if (spec.type === "paragraph") {
      control = el("textarea", { id, rows: 5 });
    } else if (spec.type === "select") {
      control = el("select", { id });
      control.append(el("option", { value: "" }, [spec.required ? "Choose…" : "(none)"]));
      for (const option of spec.options) control.append(el("option", { value: option }, [option]));
    } else if (spec.type === "number") {
      control = el("input", { id, type: "number", step: "any", inputMode: "decimal" });
    } else if (spec.type === "checkbox") {
      control = el("input", { id, type: "checkbox" });
    } else {
      control = el("input", { id, type: "text", autocomplete: "off" });
    }
    control.name = spec.variable;
    if (spec.maxLength !== null) control.maxLength = spec.maxLength;
    return control;
  }

  reset() {
    const { spec, control } = this;
    const value = spec.defaultValue;
    if (spec.type === "checkbox") {
      control.checked = value === true || value === "true" || value === 1;
    } else if (spec.type === "select") {
      control.value = typeof value === "string" && spec.options.includes(value) ? value : "";
    } else if (spec.type === "number") {
      control.value = typeof value === "number" || (typeof value === "string" && value.trim() !== "") ? String(value) : "";
    } else {
      control.value = typeof value === "string" ? value : "";
    }
    this.updateCounter();
    this.setError("");
  }

  updateCounter() {
    if (!this.counter) return;
    this.counter.textContent = `${this.control.value.length} / ${this.spec.maxLength}`;
  }

  setError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
    if (message) this.control.setAttribute("aria-invalid", "true");
    else this.control.removeAttribute("aria-invalid");
  }

  /** `{ok: true, value}` (value `undefined` leaves the input out) or `{ok: false, message}`. */
  read() {
    const { spec, control } = this;
    if (spec.type === "checkbox") return { ok: true, value: control.checked };
    if (spec.type === "number") {
      const raw = control.value.trim();
      if (control.validity && control.validity.badInput) {
        return { ok: false, message: `${spec.label} must be a number.` };
      }
      if (raw === "") {
        return spec.required ? { ok: false, message: `${spec.label} is required.` } : { ok: true, value: undefined };
      }
      const number = Number(raw);
      if (!Number.isFinite(number)) return { ok: false, message: `${spec.label} must be a number.` };
      return { ok: true, value: number };
    }
    const value = control.value;
    if (value.trim() === "") {
      if (spec.required) return { ok: false, message: `${spec.label} is required.` };
      return { ok: true, value: spec.type === "select" ? undefined : "" };
    }
    if (spec.maxLength !== null && value.length > spec.maxLength) {
      return { ok: false, message: `${spec.label} must be at most ${spec.maxLength} characters.` };
    }
    return { ok: true, value };
  }
}

/** The rendered form: `render(container)`, `collect()` → `{inputs}` or `{errors}`, `reset()`. */
export class InputForm {
  constructor(userInputForm) {
    this.fields = formFields(userInputForm).map((spec) => new Field(spec));
  }

  render(container) {
    container.replaceChildren(...this.fields.map((field) => field.root));
  }

  /** Validates every field; on failure shows the messages and focuses the first invalid field. */
  collect() {
    const inputs = {};
    const errors = [];
    for (const field of this.fields) {
      const result = field.read();
      if (result.ok) {
        field.setError("");
        if (result.value !== undefined) inputs[field.spec.variable] = result.value;
      } else {
        field.setError(result.message);
        errors.push({ field, message: result.message });
      }
    }
    if (errors.length > 0) {
      errors[0].field.control.focus();
      return { errors: errors.map((e) => e.message) };
    }
    return { inputs };
  }

  reset() {
    for (const field of this.fields) field.reset();
  }

  setDisabled(disabled) {
    for (const field of this.fields) field.control.disabled = disabled;
  }
}
