// The saved answers of this end user (`/api/saved-messages`): listed newest first, paged with
// `last_id`, each with a Delete button.

import { el } from "./dom.js";

const PAGE_SIZE = 20;

function inputsSummary(inputs) {
  if (!inputs || typeof inputs !== "object") return "";
  return Object.entries(inputs)
    .filter(([, value]) => value !== null && value !== undefined && value !== "")
    .map(([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" · ");
}

function formatDate(epochSeconds) {
  if (typeof epochSeconds !== "number") return "";
  try {
    return new Date(epochSeconds * 1000).toLocaleString();
  } catch {
    return "";
  }
}

export class SavedList {
  /**
   * @param {object} options
   * @param {import("./api.js").WebApi} options.api
   * @param {HTMLElement} options.list the <ol> to fill
   * @param {HTMLElement} options.empty shown when there is nothing saved
   * @param {HTMLElement} options.status where errors and progress are written
   * @param {HTMLButtonElement} options.more the "Load more" button
   * @param {HTMLElement} options.count the number shown next to the heading
   * @param {(messageId: string, saved: boolean) => void} options.onChange
   */
  constructor({ api, list, empty, status, more, count, onChange }) {
    this.api = api;
    this.list = list;
    this.empty = empty;
    this.status = status;
    this.more = more;
    this.count = count;
    this.onChange = onChange;
    this.ids = new Set();
    this.items = [];
    this.hasMore = false;
    this.more.addEventListener("click", () => this.loadMore());
  }

  async reload() {
    this.items = [];
    this.hasMore = false;
    await this.fetchPage("");
  }

  async loadMore() {
    const last = this.items[this.items.length - 1];
    await this.fetchPage(last ? last.id : "");
  }

  async fetchPage(lastId) {
    this.more.disabled = true;
    try {
      const page = await this.api.savedMessages(lastId, PAGE_SIZE);
      const data = page && Array.isArray(page.data) ? page.data : [];
      const known = new Set(this.items.map((item) => item.id));
      for (const item of data) {
        if (item && typeof item.id === "string" && !known.has(item.id)) this.items.push(item);
      }
      this.hasMore = Boolean(page && page.has_more);
      this.setStatus("");
    } catch (error) {
      this.setStatus(`The saved answers could not be loaded: ${error.message}`);
    } finally {
      this.more.disabled = false;
      this.render();
    }
  }

  setStatus(message) {
    this.status.textContent = message;
    this.status.hidden = !message;
  }

  async remove(item, button) {
    button.disabled = true;
    try {
      await this.api.unsave(item.id);
      this.items = this.items.filter((other) => other.id !== item.id);
      this.render();
      this.onChange(item.id, false);
      this.setStatus("");
    } catch (error) {
      button.disabled = false;
      this.setStatus(`The saved answer could not be deleted: ${error.message}`);
    }
  }

  render() {
    this.ids = new Set(this.items.map((item) => item.id));
    const rows = this.items.map((item) => {
      const remove = el("button", { type: "button", className: "delete", ariaLabel: "Delete this saved answer" }, [
        "Delete",
      ]);
      remove.addEventListener("click", () => this.remove(item, remove));
      const meta = [];
      const summary = inputsSummary(item.inputs);
      if (summary) meta.push(el("span", { className: "saved-inputs" }, [summary]));
      const when = formatDate(item.created_at);
      if (when) meta.push(el("time", { className: "saved-date" }, [when]));
      if (item.feedback && item.feedback.rating) {
        meta.push(el("span", { className: "saved-rating" }, [item.feedback.rating === "like" ? "Liked" : "Disliked"]));
      }
      const row = el("li", { className: "saved-item" }, [
        el("p", { className: "saved-answer" }, [typeof item.answer === "string" ? item.answer : ""]),
        el("div", { className: "saved-meta" }, meta),
        el("div", { className: "saved-actions" }, [remove]),
      ]);
      row.dataset.messageId = item.id;
      return row;
    });
    this.list.replaceChildren(...rows);
    this.empty.hidden = rows.length > 0;
    this.more.hidden = !this.hasMore;
    this.count.textContent = this.items.length ? `(${this.items.length}${this.hasMore ? "+" : ""})` : "";
  }
}
