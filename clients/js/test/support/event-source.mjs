// A fetch-based EventSource for these tests only: Node 20 has none (browsers do, and the browser
// test drives the real one). It follows the WHATWG "server-sent events" rules the client relies
// on: named events (`event:`), `data:` lines joined with "\n", `id:` kept as lastEventId and sent
// back as the Last-Event-ID header when it reconnects by itself, `retry:`, comments ignored, and
// readyState CONNECTING / OPEN / CLOSED. A refused handshake (a status other than 200, or another
// content type) fails the connection: `error` with readyState CLOSED, no reconnect. A stream that
// ends or breaks: `error` with readyState CONNECTING, then a reconnect after the retry delay.
// drop() breaks the current response as a network loss would (tests of the automatic reconnect).

export class TestEventSource extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;

  constructor(url) {
    super();
    this.url = String(url);
    this.readyState = TestEventSource.CONNECTING;
    this.lastEventId = "";
    this.retryMs = 300;
    this.onopen = null;
    this.onmessage = null;
    this.onerror = null;
    this.requests = []; // the headers of every request made, for the tests to look at
    this.abort = null;
    setTimeout(() => this.connect(), 0);
  }

  close() {
    this.readyState = TestEventSource.CLOSED;
    this.abort?.abort();
  }

  // The network under the stream goes away: the EventSource reconnects by itself.
  drop() {
    this.abort?.abort(new Error("dropped by the test"));
  }

  async connect() {
    if (this.readyState === TestEventSource.CLOSED) return;
    const abort = new AbortController();
    this.abort = abort;
    const headers = { Accept: "text/event-stream", "Cache-Control": "no-cache" };
    if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
    this.requests.push(headers);
    let response;
    try {
      response = await fetch(this.url, { headers, signal: abort.signal });
    } catch {
      return this.reconnectLater();
    }
    const type = response.headers.get("content-type") || "";
    if (response.status !== 200 || !type.startsWith("text/event-stream")) {
      await response.body?.cancel().catch(() => {});
      return this.fail();
    }
    if (this.readyState === TestEventSource.CLOSED) return response.body?.cancel().catch(() => {});
    this.readyState = TestEventSource.OPEN;
    this.fire(new Event("open"));
    try {
      await this.read(response.body);
    } catch {
      // A broken stream reconnects like an ended one.
    }
    this.reconnectLater();
  }

  fail() {
    if (this.readyState === TestEventSource.CLOSED) return;
    this.readyState = TestEventSource.CLOSED;
    this.fire(new Event("error"));
  }

  reconnectLater() {
    if (this.readyState === TestEventSource.CLOSED) return;
    this.readyState = TestEventSource.CONNECTING;
    this.fire(new Event("error"));
    if (this.readyState === TestEventSource.CLOSED) return; // closed by an error handler
    setTimeout(() => this.connect(), this.retryMs);
  }

  // Reads the stream line by line, dispatching each event at its blank line.
  async read(body) {
    const decoder = new TextDecoder();
    let buffer = "";
    let event = { type: "", data: [] };
    for await (const chunk of body) {
      if (this.readyState === TestEventSource.CLOSED) return;
      buffer += decoder.decode(chunk, { stream: true });
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      for (const line of lines) event = this.line(line, event);
    }
  }

  // One line of the stream: a field of the event being built, a comment, or its end.
  line(line, event) {
    if (line === "") {
      if (event.data.length) this.dispatchMessage(event);
      return { type: "", data: [] };
    }
    if (line.startsWith(":")) return event;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event.type = value;
    else if (field === "data") event.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.lastEventId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
    return event;
  }

  dispatchMessage(event) {
    const init = { data: event.data.join("\n"), lastEventId: this.lastEventId, origin: new URL(this.url).origin };
    this.fire(new MessageEvent(event.type || "message", init));
  }

  fire(event) {
    if (this.readyState === TestEventSource.CLOSED && event.type !== "error") return;
    this.dispatchEvent(event);
    const handler = { open: this.onopen, message: this.onmessage, error: this.onerror }[event.type];
    if (typeof handler === "function") handler.call(this, event);
  }
}
