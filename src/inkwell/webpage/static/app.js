// The page of a published completion app, at /completion/{code}: the site's header, the input form
// from `/api/parameters`, the streamed answers and the saved list.

import { WebApi } from "./api.js";
import { el, safeColor, safeUrl } from "./dom.js";
import { InputForm } from "./form.js";
import { ResultCard } from "./result.js";
import { SavedList } from "./saved.js";

const $ = (id) => document.getElementById(id);

function siteCode() {
  const parts = window.location.pathname.split("/").filter(Boolean);
  const index = parts.indexOf("completion");
  const raw = index >= 0 && parts.length > index + 1 ? parts[index + 1] : parts[parts.length - 1] || "";
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function enabled(feature) {
  return Boolean(feature && typeof feature === "object" && feature.enabled === true);
}

class Page {
  constructor() {
    this.code = siteCode();
    this.api = new WebApi(this.code);
    this.cards = [];
    this.savedIds = new Set();
    this.features = { moreLikeThis: false, textToSpeech: false };
  }

  async start() {
    document.body.dataset.ready = "loading";
    $("input-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.run();
    });
    $("clear").addEventListener("click", () => {
      this.form?.reset();
      this.setFormError("");
    });
    $("fields").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        $("input-form").requestSubmit();
      }
    });
    this.saved = new SavedList({
      api: this.api,
      list: $("saved-list"),
      empty: $("saved-empty"),
      status: $("saved-status"),
      more: $("saved-more"),
      count: $("saved-count"),
      onChange: (messageId, saved) => this.savedChanged(messageId, saved, false),
    });
    let site;
    let parameters;
    try {
      [site, parameters] = await Promise.all([this.api.site(), this.api.parameters()]);
    } catch (error) {
      this.showPageError(`This app cannot be used right now: ${error.message}`);
      document.body.dataset.ready = "failed";
      return;
    }
    this.renderSite(site && typeof site === "object" ? site : {});
    this.features = {
      moreLikeThis: enabled(parameters.more_like_this),
      textToSpeech: enabled(parameters.text_to_speech),
    };
    this.form = new InputForm(parameters.user_input_form);
    this.form.render($("fields"));
    $("no-fields").hidden = this.form.fields.length > 0;
    $("run").disabled = false;
    $("input-form").hidden = false;
    document.body.dataset.ready = "true";
    await this.reloadSaved();
  }

  renderSite(payload) {
    const site = payload.site && typeof payload.site === "object" ? payload.site : {};
    const title = typeof site.title === "string" && site.title ? site.title : "Untitled app";
    document.title = title;
    const language = site.default_language;
    if (typeof language === "string" && /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(language)) {
      document.documentElement.lang = language;
    }
    $("site-title").textContent = title;
    const description = typeof site.description === "string" ? site.description : "";
    $("site-description").textContent = description;
    $("site-description").hidden = !description;

    const icon = $("site-icon");
    const background = safeColor(site.icon_background);
    if (background) icon.style.background = background;
    const iconUrl = site.icon_type === "image" ? safeUrl(site.icon_url) : null;
    if (iconUrl) {
      icon.replaceChildren(el("img", { src: iconUrl, alt: "" }));
      icon.hidden = false;
    } else if (typeof site.icon === "string" && site.icon && site.icon_type !== "image") {
      icon.textContent = site.icon;
      icon.hidden = false;
    }
    const accent = safeColor(site.chat_color_theme);
    if (accent) document.documentElement.style.setProperty("--accent", accent);

    const footer = [];
    if (typeof site.custom_disclaimer === "string" && site.custom_disclaimer) {
      footer.push(el("p", { className: "disclaimer" }, [site.custom_disclaimer]));
    }
    const line = [];
    if (typeof site.copyright === "string" && site.copyright) line.push(`© ${site.copyright}`);
    const privacy = safeUrl(site.privacy_policy);
    const small = el("p", { className: "footer-line" }, line.length ? [line.join(" ")] : []);
    if (privacy) {
      if (line.length) small.append(" · ");
      small.append(el("a", { href: privacy, rel: "noopener noreferrer", target: "_blank" }, ["Privacy policy"]));
    }
    if (small.childNodes.length) footer.push(small);
    footer.push(el("p", { className: "footer-line powered" }, ["Powered by Inkwell"]));
    $("site-footer").replaceChildren(...footer);
  }

  showPageError(message) {
    $("page-error").textContent = message;
    $("page-error").hidden = false;
    $("input-form").hidden = true;
  }

  setFormError(message) {
    $("form-error").textContent = message;
    $("form-error").hidden = !message;
  }

  get busy() {
    return this.cards.some((card) => card.running);
  }

  setBusy() {
    const busy = this.busy;
    $("run").disabled = busy;
    $("run").textContent = busy ? "Running…" : "Run";
    for (const card of this.cards) {
      card.root.querySelectorAll("button.more").forEach((button) => {
        button.disabled = busy;
      });
    }
  }

  newCard(title) {
    const card = new ResultCard({
      api: this.api,
      title,
      features: this.features,
      onMoreLikeThis: (messageId) => this.moreLikeThis(messageId, card),
      onSavedChange: (messageId, saved) => this.savedChanged(messageId, saved, true),
      savedIds: this.savedIds,
    });
    this.cards.push(card);
    return card;
  }

  async run() {
    if (!this.form || this.busy) return;
    const result = this.form.collect();
    if (result.errors) {
      this.setFormError(
        result.errors.length === 1 ? result.errors[0] : `Please fix ${result.errors.length} fields: ${result.errors.join(" ")}`,
      );
      return;
    }
    this.setFormError("");
    for (const card of this.cards) card.stopSpeech();
    this.cards = [];
    const card = this.newCard("Result");
    $("results").replaceChildren(card.root);
    $("results-empty").hidden = true;
    await this.drive(card, (handlers, signal) => this.api.complete(result.inputs, handlers, signal));
  }

  async moreLikeThis(messageId, source) {
    if (this.busy || !messageId) return;
    const card = this.newCard(`More like this (${this.cards.length})`);
    source.root.after(card.root);
    card.root.scrollIntoView({ block: "nearest", behavior: "smooth" });
    await this.drive(card, (handlers, signal) => this.api.moreLikeThis(messageId, handlers, signal));
  }

  async drive(card, start) {
    this.setBusy();
    try {
      await card.run(start);
    } finally {
      this.setBusy();
    }
  }

  async savedChanged(messageId, saved, reload) {
    if (saved) this.savedIds.add(messageId);
    else this.savedIds.delete(messageId);
    for (const card of this.cards) card.syncSaved();
    if (reload) await this.reloadSaved();
  }

  async reloadSaved() {
    await this.saved.reload();
    this.savedIds.clear();
    for (const id of this.saved.ids) this.savedIds.add(id);
    for (const card of this.cards) card.syncSaved();
  }
}

const page = new Page();
window.inkwellPage = page; // for debugging from the console
page.start().catch((error) => {
  page.showPageError(`The page failed to start: ${error && error.message ? error.message : error}`);
  document.body.dataset.ready = "failed";
});
