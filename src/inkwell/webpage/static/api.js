// The web API client: passports and requests to `/api/...` (Dify's web API contract).
//
// Every request carries `X-App-Code: <site code>` and `Authorization: Bearer <passport>`. The passport
// comes from `GET /api/passport?user_id=<session>` and is kept in localStorage per site code; a 401
// drops it, fetches a new one and retries the request once. The session id is random, made once per
// browser and code and kept in localStorage too, so a new passport (after expiry) is for the same end
// user: the saved answers stay.

import { readEventStream } from "./sse.js";

/** An error the server (or the network) reported, with the words to show. */
export class ApiError extends Error {
  constructor(message, { code = "error", status = 0 } = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
  }
}

const STORAGE_PREFIX = "inkwell.passport.";
const SESSION_PREFIX = "inkwell.session.";

function randomSessionId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes); // unlike randomUUID, also there on plain-http pages
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function storageGet(key) {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null; // storage disabled (private mode, sandboxed frame)
  }
}

function storageSet(key, value) {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
  } catch {
    // not persisted: the passport lives for this page only
  }
}

/** The error envelope `{"code", "message", "status"}` of a failed response, in words. */
export async function errorFromResponse(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (body && typeof body === "object" && typeof body.message === "string" && body.message) {
    return new ApiError(body.message, { code: String(body.code || "error"), status: response.status });
  }
  const reason = response.statusText ? ` ${response.statusText}` : "";
  return new ApiError(`The server answered ${response.status}${reason}.`, { status: response.status });
}

export class WebApi {
  /** @param {string} code the site code @param {string} base the URL prefix of the web API */
  constructor(code, base = "/api") {
    this.code = code;
    this.base = base;
    this.storageKey = STORAGE_PREFIX + code;
    this.token = storageGet(this.storageKey);
    this.passportPromise = null;
    const sessionKey = SESSION_PREFIX + code;
    this.sessionId = storageGet(sessionKey);
    if (!this.sessionId) {
      this.sessionId = randomSessionId();
      storageSet(sessionKey, this.sessionId);
    }
  }

  async passport() {
    if (this.token) return this.token;
    if (!this.passportPromise) {
      this.passportPromise = (async () => {
        const query = new URLSearchParams({ user_id: this.sessionId });
        const response = await this.send(`/passport?${query}`, { headers: { "X-App-Code": this.code } });
        if (!response.ok) throw await errorFromResponse(response);
        const body = await response.json();
        if (!body || typeof body.access_token !== "string" || !body.access_token) {
          throw new ApiError("The server did not issue a passport.");
        }
        this.token = body.access_token;
        storageSet(this.storageKey, this.token);
        return this.token;
      })().finally(() => {
        this.passportPromise = null;
      });
    }
    return this.passportPromise;
  }

  forgetPassport() {
    this.token = null;
    storageSet(this.storageKey, null);
  }

  async send(path, init = {}) {
    try {
      return await fetch(this.base + path, { credentials: "same-origin", ...init });
    } catch (error) {
      if (error && error.name === "AbortError") throw error;
      throw new ApiError("The server could not be reached. Check your connection and try again.", {
        code: "network_error",
      });
    }
  }

  /** A request with the passport; retried once with a new passport after a 401. */
  async request(path, { method = "GET", json, headers = {}, signal } = {}) {
    for (let attempt = 0; ; attempt += 1) {
      const token = await this.passport();
      const init = {
        method,
        signal,
        headers: { "X-App-Code": this.code, Authorization: `Bearer ${token}`, ...headers },
      };
      if (json !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(json);
      }
      const response = await this.send(path, init);
      if (response.status === 401 && attempt === 0) {
        this.forgetPassport();
        continue;
      }
      return response;
    }
  }

  async json(path, options) {
    const response = await this.request(path, options);
    if (!response.ok) throw await errorFromResponse(response);
    if (response.status === 204) return null;
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  site() {
    return this.json("/site");
  }

  parameters() {
    return this.json("/parameters");
  }

  /** Runs a streaming request; `handlers.onEvent` gets each JSON event. Errors before the stream
   * opened are thrown as ApiError with the envelope's message. */
  async stream(path, options, handlers) {
    const response = await this.request(path, { ...options, headers: { Accept: "text/event-stream" } });
    if (!response.ok) throw await errorFromResponse(response);
    const type = response.headers.get("content-type") || "";
    if (!type.startsWith("text/event-stream")) {
      // a server may answer a streaming request with one JSON body (blocking form)
      const body = await response.json();
      handlers.onEvent({ event: "message", answer: body.answer || "", task_id: body.task_id, id: body.id });
      handlers.onEvent({ event: "message_end", id: body.id, metadata: body.metadata || {} });
      return;
    }
    await readEventStream(response, { ...handlers, signal: options.signal });
  }

  complete(inputs, handlers, signal) {
    return this.stream(
      "/completion-messages",
      { method: "POST", json: { inputs, query: "", response_mode: "streaming" }, signal },
      handlers,
    );
  }

  moreLikeThis(messageId, handlers, signal) {
    const path = `/messages/${encodeURIComponent(messageId)}/more-like-this?response_mode=streaming`;
    return this.stream(path, { method: "GET", signal }, handlers);
  }

  stop(taskId) {
    return this.json(`/completion-messages/${encodeURIComponent(taskId)}/stop`, { method: "POST", json: {} });
  }

  feedback(messageId, rating) {
    return this.json(`/messages/${encodeURIComponent(messageId)}/feedbacks`, {
      method: "POST",
      json: { rating },
    });
  }

  savedMessages(lastId = "", limit = 20) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (lastId) query.set("last_id", lastId);
    return this.json(`/saved-messages?${query}`);
  }

  save(messageId) {
    return this.json("/saved-messages", { method: "POST", json: { message_id: messageId } });
  }

  unsave(messageId) {
    return this.json(`/saved-messages/${encodeURIComponent(messageId)}`, { method: "DELETE" });
  }

  /** The answer of a message read aloud: an audio Blob, or null when there is nothing to read. */
  async textToAudio(messageId) {
    const response = await this.request("/text-to-audio", { method: "POST", json: { message_id: messageId } });
    if (!response.ok) throw await errorFromResponse(response);
    const type = response.headers.get("content-type") || "";
    if (type.startsWith("application/json")) return null; // Dify answers JSON null for nothing to read
    const blob = await response.blob();
    return blob.size > 0 ? blob : null;
  }
}
