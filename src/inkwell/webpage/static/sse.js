// Server-sent events over fetch: a parser for the text/event-stream format (WHATWG HTML §9.2) that is
// fed arbitrary chunks of bytes, and a reader that turns a Response body into parsed events.
//
// Inkwell (like Dify) sends JSON events as `data: {...}\n\n` with the type inside the JSON ("event"
// key), and keep-alives as `event: ping\n\n` with no data. Comments (`: ...`) are ignored.

/**
 * Incremental parser. `push(text)` returns the events completed by that text; partial lines and
 * partial events are kept for the next push. Lines end with LF, CRLF or CR (a CR at the very end of a
 * chunk waits for the next chunk, in case an LF follows).
 */
export class SSEParser {
  constructor() {
    this.buffer = "";
    this.data = [];
    this.eventType = "";
    this.lastEventId = "";
    this.sawField = false;
  }

  /** @param {string} text @returns {{event: string, data: string, id: string}[]} */
  push(text) {
    this.buffer += text;
    const events = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (match === null) break;
      // a lone CR at the end may be the first half of a CRLF split across chunks
      if (match[0] === "\r" && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = this.line(line);
      if (event !== null) events.push(event);
    }
    return events;
  }

  /** The end of the stream: an unterminated last event is dropped, as the standard says. */
  finish() {
    const leftover = this.buffer;
    this.buffer = "";
    this.data = [];
    this.eventType = "";
    this.sawField = false;
    return leftover;
  }

  line(line) {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return null; // comment
    const colon = line.indexOf(":");
    let field = line;
    let value = "";
    if (colon !== -1) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
    }
    this.sawField = true;
    if (field === "data") this.data.push(value);
    else if (field === "event") this.eventType = value;
    else if (field === "id" && !value.includes("\0")) this.lastEventId = value;
    // "retry" and unknown fields are ignored
    return null;
  }

  dispatch() {
    const sawField = this.sawField;
    const event = { event: this.eventType || "message", data: this.data.join("\n"), id: this.lastEventId };
    const hadData = this.data.length > 0;
    this.data = [];
    this.eventType = "";
    this.sawField = false;
    if (!sawField) return null;
    // `event: ping` frames carry no data line; they are reported so callers can see the stream is alive
    if (!hadData && event.event === "message") return null;
    return event;
  }
}

/**
 * Reads an SSE response body and calls `onEvent(payload)` for every JSON event (the parsed `data`),
 * `onPing()` for keep-alives. Resolves when the stream ends; rejects on network errors or a `data`
 * line that is not JSON. `signal` (an AbortSignal) cancels the read.
 */
export async function readEventStream(response, { onEvent, onPing = () => {}, signal } = {}) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder("utf-8");
  const parser = new SSEParser();
  const abort = () => reader.cancel().catch(() => {});
  if (signal) {
    if (signal.aborted) abort();
    else signal.addEventListener("abort", abort, { once: true });
  }
  try {
    for (;;) {
      const { done, value } = await reader.read();
      const text = done ? decoder.decode() : decoder.decode(value, { stream: true });
      for (const raw of parser.push(text)) {
        if (raw.data === "") {
          onPing(raw);
          continue;
        }
        let payload;
        try {
          payload = JSON.parse(raw.data);
        } catch {
          throw new Error("The server sent an event that is not JSON.");
        }
        if (payload === null || typeof payload !== "object") continue;
        if (!payload.event && raw.event !== "message") payload.event = raw.event;
        onEvent(payload);
      }
      if (done) break;
    }
  } finally {
    parser.finish();
    if (signal) signal.removeEventListener("abort", abort);
  }
}
