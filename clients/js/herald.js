// herald.js (@herald-notify/client): a small, dependency-free client for Herald, for browsers
// and Node >= 22 (Node 20 with --experimental-websocket). This module owns the connection to one
// Herald server: the WebSocket (README, "WebSocket API") or, where WebSockets cannot get through,
// the Server-Sent Events stream plus REST; resuming without losing or repeating anything; token
// refresh; the unread and unseen counts; and turning frames into events. It never reads
// `window` or `document`: the server is an option (only when none is given does it fall back to
// `globalThis.location`, the page's own host). Served by every node at /static/herald.js.
//
//   import { HeraldClient } from "@herald-notify/client"; // or "https://herald.example.com/static/herald.js"
//   const herald = new HeraldClient({ baseUrl: "https://herald.example.com", token, getToken: fetchFreshToken });
//   herald.on("notification", (n) => show(n));
//   herald.on("unread_count", (count) => badge.textContent = count);
//   herald.on("unseen_count", (count) => newBadge.textContent = count);
//   herald.connect();
//   await herald.markRead(42);
//   await herald.markAllSeen(); // the inbox panel was opened
//
// Transports ("transport" option, the `transport` property and event):
//   websocket  every action is a frame on the socket, its reply matched by request_id.
//   sse        GET /sse/notifications/?token= (EventSource) carries the same frames as named
//              events; every action is a REST call with `Authorization: Bearer <token>`, resolved
//              with the same shape as the WebSocket reply where REST says as much (see restCall).
//              The events of your own actions come from the stream (the server pushes every
//              change to it, made here or elsewhere), so they fire shortly after the method's
//              promise resolves, not before; counts also follow the stream only.
//   auto       (default) the WebSocket; the SSE stream when there is no WebSocket class, or when
//              the WebSocket could not open `fallbackAfter` times in a row (default 2) before it
//              ever opened since connect(). Once a WebSocket has opened, later failures (a server
//              restart, a lost network) retry the WebSocket: they say nothing about proxies.
//
// Resuming: over the WebSocket the client remembers the highest notification id it saw
// (notification frames, notifications replies, sync_complete.last_id, and the greeting's last_id
// when nothing was replayed) and reconnects with ?since=<that id>, so the server replays only what
// was created meanwhile: nothing is missed, nothing comes twice. Over SSE the stream's event ids
// do that: the EventSource sends Last-Event-ID on its own reconnects, and a new stream (token
// refresh, a server `close`) is opened with ?last_event_id=<the last id seen>. Reads and deletes
// made while away are not replayed: after a resumed connection the client emits "resync" (so
// does a server `resync` frame), and the app fetches its list again.
//
// Inbox states (README, "Inbox states"): besides read/unread a notification is seen (the
// unseen count is the "new since you last looked" badge: call markAllSeen() when the inbox is
// shown), archived (out of the default list; getNotifications({archived: true}) lists them) or
// snoozed until a time (out of the default list, then back unread and unseen: "unsnoozed").
// Every state action, here or in another tab, arrives as one "updated" event naming the ids,
// or (when over 1,000 changed) the filter the action was given; applyUpdate() (exported below)
// applies it to a notification as the server did, matchesFilter() tells whether a notification
// belongs in a list.
//
// Options (all optional but a server and a token or getToken; herald.d.ts has the types):
//   baseUrl               the server, e.g. "https://herald.example.com" (a path prefix is kept):
//                         WebSocket <base>/ws/notifications/, SSE <base>/sse/notifications/,
//                         REST <base>/auth/notifications/…
//   url                   the WebSocket URL itself, ws(s)://host/ws/notifications/ (REST and SSE
//                         then go to the same host); without baseUrl and url: globalThis.location
//   token                 the access token (JWT); sent as ?token= (REST: Authorization: Bearer)
//   since                 resume after this notification id (WebSocket; default: no replay)
//   getToken              async () => fresh token; called before the token expires (then sent
//                         as refresh_token, or the SSE stream reopened with it) and after a 4001
//   refreshBeforeSeconds  how long before `exp` to refresh (default 60)
//   backoff               {initialMs: 500, maxMs: 30000}: reconnect delays, doubled per failed
//                         attempt, with jitter
//   requestTimeoutMs      how long a request waits for its reply (default 10000)
//   openTimeoutMs         how long a WebSocket may take to greet before it counts as failed
//                         (default 10000)
//   transport             "auto" (default) | "websocket" | "sse"
//   fallbackAfter         WebSocket failures in a row before "auto" moves to SSE (default 2)
//   WebSocket, EventSource, fetch   implementations to use (default: the globals; null: none)
//
// Events, on(event, fn) / off(event, fn); every handler also gets the raw frame last:
//   notification  (notification)       a new one (pushed, replayed, or sent to yourself)
//   read          (id, unreadCount)    marked read (here or elsewhere)
//   unread        (id, unreadCount)    marked unread (here or elsewhere); it leaves the archive or
//                                       its snooze, back in the default list
//   all_read      (marked)             all marked read
//   deleted       (id, unreadCount)    deleted
//   unread_count  (count)              the unread count changed or was confirmed
//   unseen_count  (count)              the unseen count (unread and never seen: the badge of new
//                                       ones) changed or was confirmed
//   updated       (update)             seen, archived, unarchived, snoozed, or any bulk action
//                                       (here or elsewhere): {action, ids, filter, changed,
//                                       snoozeUntil}; `ids` lists what changed, or is null and
//                                       `filter` is the action's (over 1,000 changed): see
//                                       applyUpdate()
//   unsnoozed     (notifications)      snoozed notifications came back, unread and unseen
//   preferences   (preferences, categories)  the preferences, as a reply or pushed
//   resync        (unreadCount)        the shown list may be stale: fetch it again
//   state         ("connecting" | "open" | "closed" | "reconnecting")
//   transport     ("websocket" | "sse") the transport chosen (first, and on a fallback)
//   error         (Error or error frame) connection problems, error frames nobody waits for
//   frame         (frame)              every frame received
//   sent          (frame)              every frame sent (WebSocket)
//   connecting    (url)                a connection attempt (the URL with the token elided)

const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30000 };
const TRANSPORTS = ["auto", "websocket", "sse"];
// The SSE stream's event names: the frame types it carries (`close` is handled apart).
const SSE_EVENTS = [
  "connection_established",
  "notification",
  "notification_read",
  "notification_unread",
  "all_read",
  "notification_deleted",
  "notifications_updated",
  "notifications_unsnoozed",
  "preferences",
  "unread_count",
  "resync",
  "message",
];
const OPEN = 1; // WebSocket.OPEN
const CLOSED = 2; // EventSource.CLOSED

export class HeraldClient {
  constructor(options = {}) {
    const { token, since, getToken, refreshBeforeSeconds = 60, backoff, requestTimeoutMs = 10000 } = options;
    const { transport = "auto", fallbackAfter = 2, openTimeoutMs = 10000 } = options;
    if (!TRANSPORTS.includes(transport)) throw new Error(`HeraldClient: transport must be one of ${TRANSPORTS.join(", ")}`);
    const endpoints = endpointsOf(options);
    this.baseUrl = endpoints.base; // http(s)://host[/prefix], without a trailing slash
    this.url = endpoints.ws;
    this.sseUrl = endpoints.sse;
    // null: none (undefined: the global).
    this.WebSocket = options.WebSocket !== undefined ? options.WebSocket : globalThis.WebSocket;
    this.EventSource = options.EventSource !== undefined ? options.EventSource : globalThis.EventSource;
    this.fetchImpl = options.fetch ?? ((...args) => globalThis.fetch(...args));
    this.transportOption = transport;
    this.transport = null; // "websocket" | "sse": the one in use (or last used)
    this.fallbackAfter = fallbackAfter;
    this.openTimeoutMs = openTimeoutMs;
    this.token = token;
    this.getToken = getToken;
    this.refreshBeforeSeconds = refreshBeforeSeconds;
    this.backoff = { ...DEFAULT_BACKOFF, ...(backoff || {}) };
    this.requestTimeoutMs = requestTimeoutMs;
    // The highest notification id seen: the `since` of the next WebSocket (re)connection.
    this.lastId = since === undefined || since === null ? null : Number(since);
    this.lastEventId = null; // the last SSE event id seen: the `last_event_id` of a new stream
    this.unread = null; // the last known unread count
    this.unseen = null; // the last known unseen count (unread and never seen)
    this.countedThrough = 0; // notifications with ids up to this are already in `unread` and `unseen`
    this.userId = null;
    this.state = "closed";
    this.ws = null;
    this.es = null;
    this.greeted = false; // the current connection got its connection_established
    this.listeners = new Map();
    this.pending = new Map(); // request_id -> {resolve, reject, timer}
    this.nextRequest = 1;
    this.attempt = 0; // failed connection attempts in a row, for the backoff
    this.wsFailures = 0; // WebSockets in a row that closed before their greeting
    this.wsOpened = false; // a WebSocket was greeted since connect(): "auto" keeps to it
    this.fellBack = false; // "auto" moved to SSE (until close() and connect())
    this.wanted = false; // false after close(): no reconnecting
    this.replaying = false; // between a replay's start and its sync_complete
    this.everOpen = false; // a connection was established: later ones resume
    this.resumed = false; // this connection resumed an earlier one (emit "resync" after its replay)
    this.reconnectTimer = null;
    this.refreshTimer = null;
    this.openTimer = null;
  }

  // ---- events -------------------------------------------------------------------------------

  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(fn);
    return this;
  }

  off(event, fn) {
    this.listeners.get(event)?.delete(fn);
    return this;
  }

  emit(event, ...args) {
    for (const fn of this.listeners.get(event) || []) {
      try {
        fn(...args);
      } catch (err) {
        console.error(`herald: "${event}" handler failed`, err);
      }
    }
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit("state", state);
  }

  setTransport(transport) {
    if (this.transport === transport) return;
    this.transport = transport;
    this.emit("transport", transport);
  }

  // ---- connection ---------------------------------------------------------------------------

  connect() {
    if (!this.wanted) {
      // A new start: "auto" tries the WebSocket first again.
      this.wsFailures = 0;
      this.wsOpened = false;
      this.fellBack = false;
    }
    this.wanted = true;
    clearTimeout(this.reconnectTimer);
    if (this.ws || this.es) return this;
    const state = this.attempt === 0 ? "connecting" : "reconnecting";
    if (!this.token && this.getToken) this.freshToken().then((ok) => ok && this.wanted && !this.connection() && this.open(state));
    else this.open(state);
    return this;
  }

  close() {
    this.wanted = false;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.refreshTimer);
    clearTimeout(this.openTimer);
    const { ws, es } = this;
    this.ws = null;
    this.es = null;
    if (ws) ws.close(1000, "client closed");
    if (es) es.close();
    this.failPending(new Error("connection closed"));
    this.attempt = 0;
    this.setState("closed");
  }

  // The open (or opening) connection, of either transport.
  connection() {
    return this.ws || this.es;
  }

  // Which transport the next connection uses (README of this package, "SSE fallback").
  chooseTransport() {
    if (this.transportOption !== "auto") return this.transportOption;
    const failing = !this.WebSocket || (this.wsFailures >= this.fallbackAfter && !this.wsOpened);
    if (failing && this.EventSource) this.fellBack = true;
    return this.fellBack ? "sse" : "websocket";
  }

  open(state) {
    const transport = this.chooseTransport();
    const impl = transport === "sse" ? this.EventSource : this.WebSocket;
    if (!impl) {
      const name = transport === "sse" ? "EventSource" : "WebSocket";
      this.wanted = false;
      this.emit("error", new Error(`no ${name} here: pass one as the ${name} option`));
      return this.setState("closed");
    }
    this.setTransport(transport);
    this.greeted = false;
    if (transport === "sse") this.openSse(state);
    else this.openWebSocket(state);
  }

  // The `since` of the next connection: the last id seen, or the first greeting's `last_id`;
  // none on a first connection without `since` (the server then sends what comes next).
  resumeFrom() {
    return this.lastId;
  }

  // The URL of the next WebSocket: the token, and `since` when there is something to resume.
  connectUrl() {
    const url = new URL(this.url);
    url.searchParams.set("token", this.token || "");
    const since = this.resumeFrom();
    if (since !== null) url.searchParams.set("since", String(since));
    else url.searchParams.delete("since");
    return url.toString();
  }

  // The URL of a new SSE stream: the token, and the last event id seen to resume after it.
  sseConnectUrl() {
    const url = new URL(this.sseUrl);
    url.searchParams.set("token", this.token || "");
    if (this.lastEventId) url.searchParams.set("last_event_id", this.lastEventId);
    return url.toString();
  }

  // Logged without the token (tokens never appear in logs).
  announce(url) {
    this.emit("connecting", url.replace(/token=[^&]*/, "token=…"));
  }

  openWebSocket(state) {
    this.setState(state);
    const url = this.connectUrl();
    this.announce(url);
    let ws;
    try {
      ws = new this.WebSocket(url);
    } catch (err) {
      // A malformed url: retrying cannot help.
      this.wanted = false;
      this.emit("error", err);
      return this.setState("closed");
    }
    this.ws = ws;
    this.replaying = this.resumeFrom() !== null; // the server replays right after its greeting
    ws.onmessage = (event) => {
      if (this.ws === ws) this.receive(event.data);
    };
    ws.onclose = (event) => {
      if (this.ws === ws) this.webSocketClosed(event.code, event.reason);
    };
    // A failed connection fires error, then close (1006) in browsers; Node 20's WebSocket fires
    // no close for a failed handshake (and stays CONNECTING): then the error stands for it.
    ws.onerror = () => {
      if (ws.readyState === OPEN) return;
      setTimeout(() => {
        if (this.ws !== ws) return;
        this.ws = null;
        closeQuietly(ws);
        this.webSocketClosed(1006, "the connection failed");
      }, 0);
    };
    // A proxy may hold the upgrade without ever answering: that counts as a failure too.
    clearTimeout(this.openTimer);
    this.openTimer = setTimeout(() => {
      if (this.ws !== ws || this.greeted) return;
      this.ws = null;
      closeQuietly(ws);
      this.webSocketClosed(1006, `no greeting within ${this.openTimeoutMs} ms`);
    }, this.openTimeoutMs);
  }

  webSocketClosed(code, reason) {
    clearTimeout(this.openTimer);
    if (!this.greeted) this.wsFailures += 1;
    this.ws = null;
    this.closed(code, reason);
  }

  openSse(state) {
    if (state) this.setState(state);
    const url = this.sseConnectUrl();
    this.announce(url);
    let es;
    try {
      es = new this.EventSource(url);
    } catch (err) {
      this.wanted = false;
      this.emit("error", err);
      return this.setState("closed");
    }
    this.es = es;
    this.replaying = false; // the stream replays by event id, with no sync_complete
    for (const name of SSE_EVENTS) {
      es.addEventListener(name, (event) => {
        if (this.es !== es) return;
        if (event.lastEventId) this.lastEventId = event.lastEventId;
        this.receive(event.data);
      });
    }
    es.addEventListener("close", (event) => {
      if (this.es === es) this.sseClosedByServer(es, event.data);
    });
    es.onerror = () => {
      if (this.es === es) this.sseError(es);
    };
  }

  // `event: close` (data {code, reason}) before the server ends the stream: the EventSource must
  // not reconnect by itself; what comes next is decided as for a WebSocket close code.
  sseClosedByServer(es, data) {
    es.close();
    this.es = null;
    let close = {};
    try {
      close = JSON.parse(data) || {};
    } catch {
      // A close without a body is still a close.
    }
    this.closed(typeof close.code === "number" ? close.code : 1006, close.reason || "");
  }

  // The stream broke. CONNECTING: the EventSource reconnects by itself (with Last-Event-ID).
  // CLOSED: it gave up (a refused handshake: 401, 403, 429, 503): reconnect with backoff.
  sseError(es) {
    if (es.readyState === CLOSED) {
      this.es = null;
      return this.closed(1006, "the event stream was refused or failed");
    }
    if (this.state === "open") this.setState("reconnecting");
  }

  // A new stream with the current token, resuming after the last event id (token refresh).
  reopenSse() {
    const es = this.es;
    this.es = null;
    if (es) es.close();
    this.openSse(null);
  }

  closed(code, reason) {
    clearTimeout(this.refreshTimer);
    this.failPending(new Error(`connection closed (${code})`));
    if (!this.wanted) return this.setState("closed");
    if (code === 4003) {
      // An administrator disconnected this user's sessions: stay closed until the app calls
      // connect() again.
      this.wanted = false;
      this.emit("error", new Error(`disconnected by an administrator (4003)`));
      return this.setState("closed");
    }
    if (code === 4001) {
      // The token expired: reconnect with a fresh one, or stop (an expired token would only be
      // refused again).
      if (!this.getToken) {
        this.wanted = false;
        this.emit("error", new Error("token expired (4001) and no getToken to renew it"));
        return this.setState("closed");
      }
      this.setState("reconnecting");
      this.freshToken().then((ok) => ok && this.scheduleReconnect(0));
      return;
    }
    if (!this.getToken && this.secondsLeft() !== null && this.secondsLeft() <= 0) {
      // Refused (or closed) for an expired token we cannot renew: retrying cannot help.
      this.wanted = false;
      this.emit("error", new Error("the token has expired and there is no getToken to renew it"));
      return this.setState("closed");
    }
    if (code !== 1000 && code !== 1001 && code !== 1006) {
      this.emit("error", new Error(`connection closed by the server: ${code} ${reason || ""}`.trim()));
    }
    this.setState("reconnecting");
    // A token that expired while we were away is renewed before trying again.
    if (this.getToken && this.secondsLeft() !== null && this.secondsLeft() <= 0) {
      this.freshToken().then((ok) => ok && this.scheduleReconnect());
    } else {
      this.scheduleReconnect();
    }
  }

  // Exponential backoff with jitter: a random delay between half and all of
  // initialMs * 2^attempt, capped at maxMs.
  scheduleReconnect(delayMs) {
    if (!this.wanted) return;
    const ceiling = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.attempt);
    const delay = delayMs ?? ceiling / 2 + Math.random() * (ceiling / 2);
    this.attempt += 1;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      if (this.wanted && !this.connection()) this.open("reconnecting");
    }, delay);
  }

  // Calls getToken(); false (and an error event) when it fails, then retries with backoff.
  async freshToken() {
    try {
      const token = await this.getToken();
      if (!token) throw new Error("getToken returned no token");
      this.token = token;
      return true;
    } catch (err) {
      this.emit("error", err instanceof Error ? err : new Error(String(err)));
      this.scheduleReconnect();
      return false;
    }
  }

  // ---- token refresh ------------------------------------------------------------------------

  // Seconds until the token's exp (null when the token has none or is not a JWT).
  secondsLeft() {
    const exp = jwtExp(this.token);
    return exp === null ? null : exp - Date.now() / 1000;
  }

  // While open: get a fresh token refreshBeforeSeconds before exp and send refresh_token.
  scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    const left = this.secondsLeft();
    if (!this.getToken || left === null) return;
    const inMs = Math.max(1000, (left - this.refreshBeforeSeconds) * 1000);
    // setTimeout's limit is about 24.8 days; re-check from there when it is further away.
    this.refreshTimer = setTimeout(() => this.refreshNow(), Math.min(inMs, 2 ** 31 - 1));
  }

  async refreshNow() {
    if (this.state !== "open") return;
    const left = this.secondsLeft();
    if (left !== null && left > this.refreshBeforeSeconds + 1) return this.scheduleRefresh();
    try {
      const token = await this.getToken();
      if (!(jwtExp(token) > (jwtExp(this.token) ?? 0))) throw new Error("getToken gave no token expiring later");
      await this.request({ type: "refresh_token", token });
      this.token = token;
    } catch (err) {
      this.emit("error", err instanceof Error ? err : new Error(String(err)));
      // Try again shortly unless the token is already past exp (the server closes with 4001).
      clearTimeout(this.refreshTimer);
      this.refreshTimer = setTimeout(() => this.refreshNow(), 5000);
      return;
    }
    this.scheduleRefresh();
  }

  // ---- frames -------------------------------------------------------------------------------

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return this.emit("error", new Error(`frame is not JSON: ${text}`));
    }
    this.emit("frame", frame);
    this.dispatch(frame);
    // A reply settles the request() that carries its request_id.
    const id = frame.request_id;
    if (id !== undefined && this.pending.has(id)) {
      const { resolve, reject, timer } = this.pending.get(id);
      clearTimeout(timer);
      this.pending.delete(id);
      if (frame.type === "error") reject(errorOf(frame));
      else resolve(frame);
    } else if (frame.type === "error") {
      this.emit("error", frame);
    }
  }

  // Turns frames into events, keeping lastId and the unread and unseen counts current.
  dispatch(frame) {
    switch (frame.type) {
      case "connection_established":
        return this.greeting(frame);
      case "notification":
        this.received(frame.notification, frame);
        break;
      case "notification_sent":
        // Sent to ourselves from this socket: the server sends only this reply, no push.
        if (frame.notification && frame.notification.user_id === this.userId) this.received(frame.notification, frame);
        break;
      case "sync_complete":
        return this.replayed(frame);
      case "resync":
        this.counts(frame);
        this.emit("resync", frame.unread_count, frame);
        break;
      case "notification_read":
        this.emit("read", frame.notification_id, frame.unread_count, frame);
        this.countedWith(frame, [frame.notification_id]);
        break;
      case "notification_unread":
        this.emit("unread", frame.notification_id, frame.unread_count, frame);
        this.countedWith(frame, [frame.notification_id]);
        break;
      case "all_read":
        this.emit("all_read", frame.marked, frame);
        this.counts(frame);
        break;
      case "notification_deleted":
        this.emit("deleted", frame.notification_id, frame.unread_count, frame);
        this.countedWith(frame, [frame.notification_id]);
        break;
      case "notifications":
        // A page of the inbox was received (the ids, not the "seen" state: that is markAllSeen's):
        // a later resume starts above its newest.
        for (const n of frame.notifications || []) this.track(n.id);
        // The page and its counts are one snapshot.
        this.countedWith(frame, (frame.notifications || []).map((n) => n.id));
        break;
      case "unread_count":
        this.counts(frame);
        break;
      case "notifications_updated":
        // The reply to this socket's state action, or another tab's action pushed.
        this.emit("updated", updateOf(frame), frame);
        this.countedWith(frame, frame.ids || []);
        break;
      case "notifications_unsnoozed":
        // Old notifications back in the default list: no new ids, nothing to resume from.
        this.emit("unsnoozed", frame.notifications || [], frame);
        this.counts(frame);
        break;
      case "preferences":
        this.emit("preferences", frame.preferences, frame.categories, frame);
        break;
    }
  }

  // connection_established, on either transport.
  greeting(frame) {
    clearTimeout(this.openTimer);
    this.userId = frame.user_id;
    // Without a replay, everything after the greeting's last_id reaches this connection: a
    // later resume starts there. (During a replay, its sync_complete moves lastId.)
    if (!this.replaying) this.track(frame.last_id);
    // A WebSocket's replay ends with sync_complete ("resync" then). An SSE stream resumed from an
    // event id is repaired by the server (what was missed, then its own `resync` when needed);
    // one that starts again without an event id (none was seen yet, or it follows a WebSocket)
    // may have missed anything: the list is stale.
    const sseResumed = this.transport === "sse" && this.everOpen && !this.lastEventId;
    this.resumed = this.everOpen && this.replaying;
    this.everOpen = true;
    this.greeted = true;
    this.attempt = 0;
    if (this.transport === "websocket") {
      this.wsFailures = 0;
      this.wsOpened = true;
    }
    this.setState("open");
    // The greeting's count and last_id are one snapshot: everything up to last_id is in it,
    // so such a notification arriving live later must not be counted again.
    this.countedThrough = frame.last_id || 0;
    this.counts(frame);
    this.scheduleRefresh();
    if (sseResumed) this.emit("resync", this.unread, frame);
  }

  // sync_complete: a replay (since, or sync) is over.
  replayed(frame) {
    this.track(frame.last_id);
    this.replaying = false;
    // Notifications created while the socket opened are replayed but may be missing from
    // the greeting's count: ask for the exact number.
    this.unreadCount().catch(() => {});
    // Back after a disconnection: reads and deletes made meanwhile were not replayed.
    if (this.resumed) {
      this.resumed = false;
      this.emit("resync", this.unread, frame);
    }
  }

  // A notification frame's notification (pushed, replayed, or sent to ourselves).
  received(notification, frame) {
    if (!notification) return;
    this.track(notification.id);
    this.emit("notification", notification, frame);
    // Live ones are new and add to the counts (unread, and unseen unless seen already); replayed
    // ones, and any the greeting counted, are already in them.
    const counted = notification.id <= this.countedThrough;
    if (!this.replaying && !counted && !notification.is_read && this.unread !== null) {
      this.countedThrough = notification.id;
      this.count(this.unread + 1, frame);
      if (!notification.seen_at && this.unseen !== null) this.countUnseen(this.unseen + 1, frame);
    }
  }

  track(id) {
    if (typeof id === "number" && (this.lastId === null || id > this.lastId)) this.lastId = id;
  }

  // The frame's unread_count and unseen_count, each when it carries it.
  counts(frame) {
    this.count(frame.unread_count, frame);
    this.countUnseen(frame.unseen_count, frame);
  }

  // The frame's counts, which include the notifications `ids` (they existed when the counts
  // were taken): when such a notification's push arrives after them (a reply can overtake a
  // push), it must not be counted again.
  countedWith(frame, ids) {
    for (const id of ids) {
      if (typeof id === "number" && id > this.countedThrough) this.countedThrough = id;
    }
    this.counts(frame);
  }

  count(value, frame) {
    if (typeof value !== "number") return;
    this.unread = value;
    this.emit("unread_count", value, frame);
  }

  countUnseen(value, frame) {
    if (typeof value !== "number") return;
    this.unseen = value;
    this.emit("unseen_count", value, frame);
  }

  failPending(err) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(err);
    }
    this.pending.clear();
  }

  // ---- requests -----------------------------------------------------------------------------

  // Sends `frame` (a client frame of README's table) and resolves with its reply: over the
  // WebSocket the frame carrying its request_id, over SSE the REST call's answer in the same
  // shape. Rejects on an error (the Error's `frame` is the error frame), on timeout, or when
  // the connection closes first.
  request(frame) {
    if (this.transport === "sse" || this.transportOption === "sse") return this.restCall(frame);
    const reply = new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== OPEN) return reject(new Error("not connected"));
      const id = `r${this.nextRequest++}`;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no reply to ${frame.type} within ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      if (frame.type === "sync") this.replaying = true;
      const sent = { ...frame, request_id: id };
      this.ws.send(JSON.stringify(sent));
      this.emit("sent", sent);
    });
    // A failed sync ends no replay: live notifications count again.
    if (frame.type === "sync") reply.catch(() => (this.replaying = false));
    return reply;
  }

  // A client frame as the REST call that does the same (README, "REST reference"), its answer
  // in the WebSocket reply's shape. What REST does not say: a single-notification state action
  // names its id in `ids` (empty when nothing changed), a bulk action or mark_all_seen has no
  // `ids` (the pushed "updated" event names them); there is no `sync` (the stream resumes by
  // event id); `ping` is GET /healthz; `refresh_token` reopens the stream with the new token.
  async restCall(frame) {
    const { type, ...body } = frame;
    const one = (path) => `${encodeURIComponent(frame.notification_id)}/${path}/`;
    const updated = (reply) => {
      const changed = reply.changed > 0 ? [frame.notification_id] : [];
      return { type: "notifications_updated", ...reply, ids: changed, ...snoozeOf(frame) };
    };
    switch (type) {
      case "get_notifications":
        return { type: "notifications", ...(await this.rest("GET", `?${listQuery(body)}`)) };
      case "mark_read":
        return { type: "notification_read", notification_id: frame.notification_id, ...(await this.rest("POST", one("read"))) };
      case "mark_unread":
        return { type: "notification_unread", notification_id: frame.notification_id, ...(await this.rest("POST", one("unread"))) };
      case "mark_seen":
        return updated(await this.rest("POST", one("seen")));
      case "archive":
      case "unarchive":
        return updated(await this.rest("POST", one(type)));
      case "snooze":
        return updated(await this.rest("POST", one("snooze"), { snooze_until: frame.snooze_until }));
      case "mark_all_read":
        return { type: "all_read", ...(await this.rest("POST", "mark-all-read/")) };
      case "mark_all_seen":
        return { type: "notifications_updated", ...(await this.rest("POST", "mark-all-seen/")) };
      case "bulk":
        return { type: "notifications_updated", ...(await this.rest("POST", "bulk/", body)), ...snoozeOf(frame) };
      case "delete_notification":
        return { type: "notification_deleted", notification_id: frame.notification_id, ...(await this.rest("DELETE", one("delete"))) };
      case "get_preferences":
        return { type: "preferences", ...(await this.rest("GET", "preferences/")) };
      case "update_preferences":
        return { type: "preferences", ...(await this.rest("PUT", "preferences/", body)) };
      case "get_unread_count":
        return { type: "unread_count", ...(await this.rest("GET", "unread-count/")) };
      case "send_notification":
        return { type: "notification_sent", ...(await this.sendOverRest(body)) };
      case "ping":
        await this.http("GET", `${this.baseUrl}/healthz`);
        return { type: "pong" };
      case "refresh_token":
        return this.refreshStream(frame.token);
      default:
        throw new Error(`${type} is not available on the SSE transport`);
    }
  }

  // POST /auth/notifications/create/, the frame's idempotency_key as Idempotency-Key.
  sendOverRest({ idempotency_key: key, ...body }) {
    const headers = key === undefined || key === null ? {} : { "Idempotency-Key": key };
    return this.rest("POST", "create/", body, headers);
  }

  // Over SSE a new token means a new stream: reopened at once, resuming after its last event.
  refreshStream(token) {
    this.token = token;
    if (this.es) this.reopenSse();
    const exp = jwtExp(token);
    return { type: "token_refreshed", expires_at: exp === null ? null : new Date(exp * 1000).toISOString() };
  }

  // A REST call under <base>/auth/notifications/.
  rest(method, path, body, headers) {
    return this.http(method, `${this.baseUrl}/auth/notifications/${path}`, body, headers);
  }

  // One HTTP request with the token; resolves with the JSON answer, rejects with an Error whose
  // `frame` is the error as a WebSocket error frame (plus `status`, and `retry_after` on 429).
  async http(method, url, body, headers = {}) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.requestTimeoutMs);
    const init = { method, signal: abort.signal, headers: { Authorization: `Bearer ${this.token || ""}`, ...headers } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    let text;
    try {
      response = await this.fetchImpl(url, init);
      text = await response.text();
    } catch (err) {
      throw abort.signal.aborted ? new Error(`no answer to ${method} ${url} within ${this.requestTimeoutMs} ms`) : err;
    } finally {
      clearTimeout(timer);
    }
    const answer = parseJson(text);
    if (response.ok) return answer ?? {};
    throw errorOf(restErrorFrame(response, answer));
  }

  markRead(id) {
    return this.request({ type: "mark_read", notification_id: id });
  }

  markAllRead() {
    return this.request({ type: "mark_all_read" });
  }

  // Unread again (and back in the default list when it was archived or snoozed).
  markUnread(id) {
    return this.request({ type: "mark_unread", notification_id: id });
  }

  // Seen: out of the unseen count, still unread. The reply (and the other tabs' push) is a
  // notifications_updated frame, as for every state action below: an "updated" event.
  markSeen(id) {
    return this.request({ type: "mark_seen", notification_id: id });
  }

  // Every unseen notification of the default list seen: call it when the inbox is shown.
  markAllSeen() {
    return this.request({ type: "mark_all_seen" });
  }

  // Read, and out of the default list (listed with getNotifications({archived: true})).
  archive(id) {
    return this.request({ type: "archive", notification_id: id });
  }

  // Back in the default list (still read).
  unarchive(id) {
    return this.request({ type: "unarchive", notification_id: id });
  }

  // Read and out of the default list until `until` (a Date or an RFC 3339 string, in the next
  // 366 days); then back unread and unseen (the "unsnoozed" event).
  async snooze(id, until) {
    return this.request({ type: "snooze", notification_id: id, snooze_until: rfc3339(until, "snooze_until") });
  }

  // One action ("read", "unread", "seen", "archive", "unarchive", "delete" or "snooze", the
  // latter with snoozeUntil) on {ids: [up to 1,000 ids]} or on every notification of
  // {filter: {...}} (getNotifications' filters: {} is the default list, {read: true} every read
  // one in it, {archived: true} the archive).
  async bulk(action, { ids, filter } = {}, snoozeUntil) {
    const frame = { type: "bulk", action };
    if (ids !== undefined) frame.ids = ids;
    if (filter !== undefined) frame.filter = filterBody(filter);
    if (snoozeUntil !== undefined && snoozeUntil !== null) frame.snooze_until = rfc3339(snoozeUntil, "snoozeUntil");
    return this.request(frame);
  }

  // The inbox's "Archive all read": every read notification of the default list archived.
  archiveAllRead() {
    return this.bulk("archive", { filter: { read: true } });
  }

  deleteNotification(id) {
    return this.request({ type: "delete_notification", notification_id: id });
  }

  // {user_id?, title, message?, notification_type?, data?, link?, idempotency_key?}
  send(notification) {
    return this.request({ type: "send_notification", ...notification });
  }

  // {limit?, before?, unread?, read?, seen?, archived?, snoozed?, types?, category?, data?,
  // created_after?, created_before?} (README, "List filters"; times as Dates or RFC 3339
  // strings). Without archived or snoozed: the default list (neither).
  getNotifications(opts = {}) {
    const { type, ...filter } = opts;
    // `type` names the frame: a single type filter goes as notification_type.
    if (type !== undefined) filter.notification_type = type;
    return this.request({ ...filterBody(filter), type: "get_notifications" });
  }

  // Resolves with {type: "preferences", preferences: {type: {enabled, realtime}}, categories}.
  getPreferences() {
    return this.request({ type: "get_preferences" });
  }

  // {preferences?: {type: {enabled?, realtime?}}, categories?: {category: {...}}}, as REST's
  // PUT body; resolves with the preferences after.
  updatePreferences(body = {}) {
    return this.request({ ...body, type: "update_preferences" });
  }

  unreadCount() {
    return this.request({ type: "get_unread_count" });
  }

  // WebSocket only: every notification after `since` again, then sync_complete.
  sync(since = this.lastId ?? 0) {
    return this.request({ type: "sync", since });
  }

  ping() {
    return this.request({ type: "ping" });
  }

  // Sends refresh_token now (with getToken() when no token is given); over SSE the stream is
  // reopened with it.
  async refreshToken(token) {
    const fresh = token || (this.getToken && (await this.getToken()));
    if (!fresh) throw new Error("no token to refresh with");
    const reply = await this.request({ type: "refresh_token", token: fresh });
    this.token = fresh;
    this.scheduleRefresh();
    return reply;
  }
}

// The `exp` claim of a JWT (seconds), or null.
export function jwtExp(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const exp = JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, "=")))?.exp;
    return typeof exp === "number" ? exp : null;
  } catch {
    return null;
  }
}

// ---- the server's URLs ------------------------------------------------------------------------

const WS_PATH = "/ws/notifications/";

// The base (http(s)://host[/prefix]), WebSocket and SSE URLs of the server the options name:
// baseUrl, else url (the WebSocket URL, resolved against the page when relative: REST and SSE go
// to its host, under the prefix before /ws/notifications/), else the page's own host
// (globalThis.location), else an Error.
export function endpointsOf({ baseUrl, url } = {}) {
  const page = globalThis.location?.href;
  let base;
  if (baseUrl) base = new URL(String(baseUrl), page);
  else if (url) base = baseOfWebSocketUrl(new URL(String(url), page));
  else if (page) base = new URL("/", page);
  else throw new Error('HeraldClient: no server: pass baseUrl (e.g. "https://herald.example.com") or url');
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new Error(`HeraldClient: the server must be an http(s) or ws(s) URL, not ${base.protocol}`);
  }
  const root = `${base.origin}${base.pathname.replace(/\/+$/, "")}`;
  const ws = url ? new URL(String(url), page).toString() : `${root.replace(/^http/, "ws")}${WS_PATH}`;
  return { base: root, ws, sse: `${root}/sse/notifications/` };
}

// ws(s)://host/prefix/ws/notifications/ -> http(s)://host/prefix
function baseOfWebSocketUrl(wsUrl) {
  const base = new URL(wsUrl.toString());
  base.protocol = { "wss:": "https:", "ws:": "http:" }[base.protocol] ?? base.protocol;
  const path = base.pathname.replace(/\/+$/, "");
  const suffix = WS_PATH.replace(/\/$/, "");
  base.pathname = path.endsWith(suffix) ? path.slice(0, -suffix.length) || "/" : "/";
  return base;
}

// ---- inbox states, for the app's list -------------------------------------------------------

// Whether `notification` is one that `filter` selects: getNotifications' filters, or the filter
// of an "updated" event (as notifications_updated repeats it). Like the server: without
// archived/snoozed only the default list's (neither archived nor snoozed); `data` is JSON
// containment. `category` is not judged here (the server's frames name its types instead).
export function matchesFilter(notification, filter = {}) {
  const n = notification;
  const f = filter || {};
  const types = [f.types, f.type, f.notification_type]
    .flatMap((t) => (t === undefined || t === null ? [] : Array.isArray(t) ? t : String(t).split(",")))
    .map((t) => String(t).trim())
    .filter(Boolean);
  if (types.length && !types.includes(n.notification_type)) return false;
  const read = flag(f.read) ?? (flag(f.unread) === true ? false : null);
  if (read !== null && !!n.is_read !== read) return false;
  const seen = flag(f.seen);
  if (seen !== null && (!!n.is_read || !!n.seen_at) !== seen) return false;
  if (!!n.archived_at !== (flag(f.archived) === true)) return false;
  if (!!n.snoozed_until !== (flag(f.snoozed) === true)) return false;
  if (f.created_after && !(Date.parse(n.created_at) > Date.parse(rfc3339(f.created_after)))) return false;
  if (f.created_before && !(Date.parse(n.created_at) < Date.parse(rfc3339(f.created_before)))) return false;
  if (f.before !== undefined && f.before !== null && !(n.id < Number(f.before))) return false;
  if (f.data !== undefined && f.data !== null) {
    const wanted = typeof f.data === "string" ? JSON.parse(f.data) : f.data;
    if (!contains(n.data ?? {}, wanted)) return false;
  }
  return true;
}

// What an "updated" event does to `notification`: the notification after it (a copy), null when
// deleted, or the notification itself when the update is not about it. Its ids, else its
// filter, judged on the notification as it was. Times the frame does not carry (seen_at,
// archived_at, read_at) are the client's clock.
export function applyUpdate(notification, update) {
  const about = update.ids ? update.ids.includes(notification.id) : matchesFilter(notification, update.filter);
  return about ? applyAction(notification, update.action, update) : notification;
}

// `notification` after `action` (README's state table): a copy, or null for "delete".
export function applyAction(notification, action, { snoozeUntil = null, at = new Date().toISOString() } = {}) {
  const n = { ...notification };
  const read = () => {
    if (!n.is_read) n.read_at = at;
    n.is_read = true;
    n.seen_at = n.seen_at || at;
  };
  switch (action) {
    case "seen":
      if (!n.is_read) n.seen_at = n.seen_at || at;
      break;
    case "read":
      read();
      break;
    case "unread":
      Object.assign(n, { is_read: false, read_at: null, seen_at: n.seen_at || at, archived_at: null, snoozed_until: null });
      break;
    case "archive":
      read();
      Object.assign(n, { archived_at: n.archived_at || at, snoozed_until: null });
      break;
    case "unarchive":
      n.archived_at = null;
      break;
    case "snooze":
      read();
      Object.assign(n, { archived_at: null, snoozed_until: snoozeUntil || n.snoozed_until || at });
      break;
    case "delete":
      return null;
  }
  return n;
}

// ---- helpers ------------------------------------------------------------------------------------

// A notifications_updated frame as the "updated" event passes it.
function updateOf(frame) {
  return {
    action: frame.action,
    ids: Array.isArray(frame.ids) ? frame.ids : null,
    filter: frame.filter ?? null,
    changed: frame.changed,
    snoozeUntil: frame.snooze_until ?? null,
  };
}

// A snooze's frame repeats its snooze_until.
function snoozeOf(frame) {
  return frame.snooze_until === undefined ? {} : { snooze_until: frame.snooze_until };
}

// A filter for the server: times as RFC 3339 strings.
function filterBody(filter) {
  const body = { ...filter };
  for (const name of ["created_after", "created_before"]) {
    if (body[name] instanceof Date) body[name] = rfc3339(body[name], name);
  }
  return body;
}

// A get_notifications frame's filters as REST's query string: lists comma-separated, `data` as
// JSON, the rest as written.
function listQuery(filter) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filter)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) query.set(name, value.join(","));
    else if (typeof value === "object") query.set(name, JSON.stringify(value));
    else query.set(name, String(value));
  }
  return query.toString();
}

// A REST error answer as the WebSocket's error frame: {type: "error", code, message, field?},
// plus the HTTP status and, on 429, retry_after.
function restErrorFrame(response, answer) {
  const error = answer?.error ?? {};
  const frame = { type: "error", code: error.code ?? `http_${response.status}`, message: error.message ?? response.statusText, status: response.status };
  if (error.field !== undefined) frame.field = error.field;
  const retryAfter = Number(response.headers?.get?.("Retry-After"));
  if (response.status === 429 && retryAfter > 0) frame.retry_after = retryAfter;
  return frame;
}

// Closes a socket that failed, whatever state its implementation left it in.
function closeQuietly(ws) {
  try {
    ws.close();
  } catch {
    // Nothing to close.
  }
}

function errorOf(frame) {
  return Object.assign(new Error(`${frame.code}: ${frame.message}`), { frame });
}

function parseJson(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

// A Date or an RFC 3339 string as an RFC 3339 string.
function rfc3339(at, name = "time") {
  if (at instanceof Date) {
    if (Number.isNaN(at.getTime())) throw new Error(`${name} is an invalid Date`);
    return at.toISOString();
  }
  if (typeof at === "string" && at) return at;
  throw new Error(`${name} must be a Date or an RFC 3339 string`);
}

// true, false, or null (not given); "true"/"false" as a query string writes them.
function flag(value) {
  if (value === true || value === "true" || value === "1" || value === 1) return true;
  if (value === false || value === "false" || value === "0" || value === 0) return false;
  return null;
}

// JSON containment, as PostgreSQL's @>: objects by key, arrays by element, the rest by value.
function contains(have, want) {
  if (Array.isArray(want)) return Array.isArray(have) && want.every((w) => have.some((h) => contains(h, w)));
  if (want && typeof want === "object") {
    if (!have || typeof have !== "object" || Array.isArray(have)) return false;
    return Object.keys(want).every((key) => key in have && contains(have[key], want[key]));
  }
  return have === want;
}
