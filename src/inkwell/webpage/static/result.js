// One answer on the page: its text as it streams in, its state (writing, done, stopped, failed),
// citations, and the actions on a finished message (like/dislike, save, more like this, read aloud).

import { el } from "./dom.js";

const STATE_WORDS = {
  waiting: "Waiting for the model…",
  streaming: "Writing…",
  stopping: "Stopping…",
  done: "Done",
  stopped: "Stopped",
  failed: "Failed",
};

/** How long to wait for the server's `message_end` after a stop before cutting the stream. */
const STOP_GRACE_MS = 5000;

function decodeBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export class ResultCard {
  /**
   * @param {object} options
   * @param {import("./api.js").WebApi} options.api
   * @param {string} options.title
   * @param {{moreLikeThis: boolean, textToSpeech: boolean}} options.features
   * @param {(messageId: string) => void} options.onMoreLikeThis
   * @param {(messageId: string, saved: boolean) => void} options.onSavedChange
   * @param {Set<string>} options.savedIds
   */
  constructor({ api, title, features, onMoreLikeThis, onSavedChange, savedIds }) {
    this.api = api;
    this.features = features;
    this.onMoreLikeThis = onMoreLikeThis;
    this.onSavedChange = onSavedChange;
    this.savedIds = savedIds;
    this.state = "waiting";
    this.text = "";
    this.taskId = null;
    this.messageId = null;
    this.rating = null;
    this.ended = false;
    this.streamError = null;
    this.audio = null;
    this.ttsChunks = [];

    this.status = el("span", { className: "result-status", role: "status" });
    this.stopButton = el("button", { type: "button", className: "stop" }, ["Stop"]);
    this.stopButton.addEventListener("click", () => this.stop());
    this.textNode = document.createTextNode("");
    this.output = el("div", { className: "result-text", tabIndex: 0, ariaLabel: `${title} text` }, [this.textNode]);
    this.output.dataset.testid = "output";
    this.error = el("p", { className: "result-error", role: "alert", hidden: true });
    this.note = el("p", { className: "result-note", role: "status", hidden: true });
    this.citations = el("section", { className: "citations", hidden: true });
    this.actions = el("div", { className: "result-actions", role: "group", ariaLabel: "Answer actions", hidden: true });
    this.heading = el("h3", {}, [title]);
    this.root = el("article", { className: "result" }, [
      el("header", { className: "result-head" }, [this.heading, this.status, this.stopButton]),
      this.output,
      this.error,
      this.citations,
      this.actions,
      this.note,
    ]);
    this.setState("waiting");
  }

  setState(state) {
    this.state = state;
    this.root.dataset.state = state;
    this.status.textContent = STATE_WORDS[state] || state;
    const running = state === "waiting" || state === "streaming" || state === "stopping";
    this.output.setAttribute("aria-busy", running ? "true" : "false");
    this.stopButton.hidden = !running;
    this.stopButton.disabled = state === "stopping";
    this.stopButton.textContent = state === "stopping" ? "Stopping…" : "Stop";
  }

  get running() {
    return this.state === "waiting" || this.state === "streaming" || this.state === "stopping";
  }

  /** Runs `start(handlers, signal)` (a streaming API call) into this card; resolves when it ends. */
  async run(start) {
    this.controller = new AbortController();
    try {
      await start({ onEvent: (event) => this.onEvent(event), onPing: () => {} }, this.controller.signal);
      if (this.streamError) {
        this.fail(this.streamError);
      } else if (this.state === "stopping" || this.stopRequested) {
        this.setState("stopped");
      } else if (this.ended) {
        this.setState("done");
      } else {
        this.fail("The answer ended before it was complete. Please try again.");
      }
    } catch (error) {
      if (error && error.name === "AbortError" && this.stopRequested) {
        this.setState("stopped");
      } else {
        this.fail(error && error.message ? error.message : String(error));
      }
    } finally {
      clearTimeout(this.stopTimer);
      this.controller = null;
      // a failed answer is not offered for feedback, saving or more of the same
      if (this.messageId && this.state !== "failed") this.showActions();
    }
  }

  onEvent(event) {
    if (typeof event.task_id === "string" && event.task_id) this.taskId = event.task_id;
    const id = typeof event.message_id === "string" && event.message_id ? event.message_id : event.id;
    switch (event.event) {
      case "message":
        if (typeof id === "string") this.messageId = id;
        if (typeof event.answer === "string" && event.answer) {
          // a reader at the bottom of a long answer follows it; one who scrolled up stays put
          const out = this.output;
          const following = out.scrollHeight - out.scrollTop - out.clientHeight < 8;
          this.textNode.appendData(event.answer);
          this.text += event.answer;
          if (following) out.scrollTop = out.scrollHeight;
        }
        if (this.state === "waiting") this.setState("streaming");
        break;
      case "message_replace":
        this.text = typeof event.answer === "string" ? event.answer : "";
        this.textNode.data = this.text;
        if (this.state === "waiting") this.setState("streaming");
        break;
      case "message_end": {
        this.ended = true;
        if (typeof event.id === "string" && event.id) this.messageId = event.id;
        else if (typeof id === "string") this.messageId = id;
        const metadata = event.metadata && typeof event.metadata === "object" ? event.metadata : {};
        this.showCitations(metadata.retriever_resources);
        break;
      }
      case "error":
        this.streamError = typeof event.message === "string" && event.message ? event.message : "The generation failed.";
        break;
      case "tts_message":
        if (typeof event.audio === "string" && event.audio) {
          try {
            this.ttsChunks.push(decodeBase64(event.audio));
          } catch {
            // a broken chunk is skipped; the text is what matters
          }
        }
        break;
      case "tts_message_end":
        this.playChunks();
        break;
      default:
        break; // message_file, workflow events, future events: ignored
    }
  }

  async stop() {
    if (!this.running || this.stopRequested) return;
    this.stopRequested = true;
    this.setState("stopping");
    if (!this.taskId) {
      // nothing from the server yet: closing the connection cancels the generation
      this.controller?.abort();
      return;
    }
    this.stopTimer = setTimeout(() => this.controller?.abort(), STOP_GRACE_MS);
    try {
      await this.api.stop(this.taskId);
    } catch (error) {
      this.controller?.abort();
      this.showNote(`Stop request failed: ${error.message}`);
    }
  }

  fail(message) {
    this.error.textContent = message;
    this.error.hidden = false;
    this.setState("failed");
  }

  showNote(message) {
    this.note.textContent = message;
    this.note.hidden = !message;
  }

  showCitations(resources) {
    if (!Array.isArray(resources) || resources.length === 0) return;
    const list = el("ol", { className: "citation-list" });
    for (const resource of resources) {
      if (!resource || typeof resource !== "object") continue;
      const name = resource.document_name || resource.title || resource.dataset_name || "Source";
      const summary = el("summary", {}, [String(name)]);
      if (typeof resource.score === "number") {
        summary.append(" ", el("span", { className: "citation-score" }, [`score ${resource.score.toFixed(2)}`]));
      }
      const body = [summary];
      if (resource.dataset_name && resource.dataset_name !== name) {
        body.push(el("p", { className: "citation-dataset" }, [String(resource.dataset_name)]));
      }
      if (typeof resource.content === "string" && resource.content) {
        body.push(el("blockquote", { className: "citation-content" }, [resource.content]));
      }
      list.append(el("li", {}, [el("details", {}, body)]));
    }
    this.citations.replaceChildren(el("h4", {}, ["Citations"]), list);
    this.citations.hidden = false;
  }

  showActions() {
    const buttons = [];
    this.likeButton = el("button", { type: "button", className: "like", ariaPressed: "false" }, ["Like"]);
    this.dislikeButton = el("button", { type: "button", className: "dislike", ariaPressed: "false" }, ["Dislike"]);
    this.likeButton.addEventListener("click", () => this.rate("like"));
    this.dislikeButton.addEventListener("click", () => this.rate("dislike"));
    buttons.push(this.likeButton, this.dislikeButton);

    this.saveButton = el("button", { type: "button", className: "save", ariaPressed: "false" }, ["Save"]);
    this.saveButton.addEventListener("click", () => this.toggleSaved());
    buttons.push(this.saveButton);
    this.syncSaved();

    if (this.features.moreLikeThis) {
      const more = el("button", { type: "button", className: "more" }, ["More like this"]);
      more.addEventListener("click", () => this.onMoreLikeThis(this.messageId));
      buttons.push(more);
    }
    if (this.features.textToSpeech) {
      this.speakButton = el("button", { type: "button", className: "speak" }, [
        this.audio ? "Stop reading" : "Read aloud", // speech that came with the stream may be playing
      ]);
      this.speakButton.addEventListener("click", () => this.toggleSpeech());
      buttons.push(this.speakButton);
    }
    if (navigator.clipboard && window.isSecureContext) {
      const copy = el("button", { type: "button", className: "copy" }, ["Copy"]);
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(this.text);
          this.showNote("Copied.");
        } catch {
          this.showNote("Copying is not allowed here.");
        }
      });
      buttons.push(copy);
    }
    this.actions.replaceChildren(...buttons);
    this.actions.hidden = false;
  }

  async rate(rating) {
    const next = this.rating === rating ? null : rating; // pressing the pressed one takes it back
    this.likeButton.disabled = true;
    this.dislikeButton.disabled = true;
    try {
      await this.api.feedback(this.messageId, next);
      this.rating = next;
      this.likeButton.setAttribute("aria-pressed", String(next === "like"));
      this.dislikeButton.setAttribute("aria-pressed", String(next === "dislike"));
      this.showNote(next === null ? "Feedback removed." : "Thanks for the feedback.");
    } catch (error) {
      this.showNote(`Feedback failed: ${error.message}`);
    } finally {
      this.likeButton.disabled = false;
      this.dislikeButton.disabled = false;
    }
  }

  syncSaved() {
    if (!this.saveButton || !this.messageId) return;
    const saved = this.savedIds.has(this.messageId);
    this.saveButton.textContent = saved ? "Saved" : "Save";
    this.saveButton.setAttribute("aria-pressed", String(saved));
  }

  async toggleSaved() {
    const saved = this.savedIds.has(this.messageId);
    this.saveButton.disabled = true;
    try {
      if (saved) await this.api.unsave(this.messageId);
      else await this.api.save(this.messageId);
      this.onSavedChange(this.messageId, !saved);
      this.showNote(saved ? "Removed from saved." : "Saved.");
    } catch (error) {
      this.showNote(`Saving failed: ${error.message}`);
    } finally {
      this.saveButton.disabled = false;
      this.syncSaved();
    }
  }

  async toggleSpeech() {
    if (this.audio) {
      this.stopSpeech();
      return;
    }
    this.speakButton.disabled = true;
    try {
      const blob = await this.api.textToAudio(this.messageId);
      if (blob === null) {
        this.showNote("There is nothing to read aloud.");
        return;
      }
      this.play(blob);
    } catch (error) {
      this.showNote(`Reading aloud failed: ${error.message}`);
    } finally {
      this.speakButton.disabled = false;
    }
  }

  playChunks() {
    if (this.ttsChunks.length === 0) return;
    const blob = new Blob(this.ttsChunks, { type: "audio/mpeg" });
    this.ttsChunks = [];
    this.play(blob);
  }

  play(blob) {
    this.stopSpeech();
    const url = URL.createObjectURL(blob);
    const audio = new Audio(url);
    this.audio = audio;
    this.audioUrl = url;
    if (this.speakButton) this.speakButton.textContent = "Stop reading";
    audio.addEventListener("ended", () => this.stopSpeech());
    audio.addEventListener("error", () => {
      this.stopSpeech();
      this.showNote("The audio could not be played.");
    });
    audio.play().catch((error) => {
      this.stopSpeech();
      this.showNote(`The audio could not be played: ${error.message}`);
    });
    this.root.dataset.speaking = "true";
  }

  stopSpeech() {
    if (this.audio) this.audio.pause();
    if (this.audioUrl) URL.revokeObjectURL(this.audioUrl);
    this.audio = null;
    this.audioUrl = null;
    delete this.root.dataset.speaking;
    if (this.speakButton) this.speakButton.textContent = "Read aloud";
  }
}
