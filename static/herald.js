// herald.js: a small, dependency-free browser client for Herald's WebSocket API (README,
// "WebSocket API"). Served by every node at /static/herald.js; copy it into your app as is.
//
//   import { HeraldClient } from "/static/herald.js";
//   const herald = new HeraldClient({ token, getToken: fetchFreshToken });
//   herald.on("notification", (n) => show(n));
//   herald.on("unread_count", (count) => badge.textContent = count);
//   herald.connect();
//   await herald.markRead(42);
//
// Resuming: the client remembers the highest notification id it saw (notification frames,
// notifications replies, sync_complete.last_id, and the greeting's last_id when nothing was
// replayed) and reconnects with ?since=<that id>, so the server replays only what was created
// meanwhile: nothing is missed, nothing comes twice, and the history is never replayed whole.
// Reads and deletes made while away are not replayed: after a resumed connection's replay the
// client emits "resync" (so does a server `resync` frame), and the app fetches its list again.
//
// Options:
//   url                   ws(s)://host/ws/notifications/ (default: the page's own host)
//   token                 the access token (JWT); sent as ?token=
//   since                 resume after this notification id (default: nothing is replayed)
//   getToken              async () => fresh token; called before the token expires (then sent
//                         as refresh_token) and after a 4001 close (then reconnects with it)
//   refreshBeforeSeconds  how long before `exp` to refresh (default 60)
//   backoff               {initialMs: 500, maxMs: 30000}: reconnect delays, doubled per failed
//                         attempt, with jitter
//   requestTimeoutMs      how long request() waits for its reply (default 10000)
//
// Events, on(event, fn) / off(event, fn); every handler also gets the raw frame last:
//   notification  (notification)       a new one (pushed, replayed with `since`, or sent to
//                                       yourself from this socket)
//   read          (id, unreadCount)    marked read (here or elsewhere)
//   unread        (id, unreadCount)    marked unread elsewhere
//   all_read      (marked)             all marked read
//   deleted       (id, unreadCount)    deleted
//   unread_count  (count)              the unread count changed or was confirmed
//   resync        (unreadCount)        the shown list may be stale (reads, unreads or deletes
//                                       were missed: a reconnect, or the server's `resync`
//                                       frame): fetch it again, e.g. getNotifications()
//   state         ("connecting" | "open" | "closed" | "reconnecting")
//   error         (Error or error frame) connection problems, error frames nobody waits for
//   frame         (frame)              every frame received
//   sent          (frame)              every frame sent
//   connecting    (url)                a connection attempt (the URL with the token elided)

const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30000 };

export class HeraldClient {
  constructor({ url, token, since, getToken, refreshBeforeSeconds = 60, backoff, requestTimeoutMs = 10000 } = {}) {
    this.url = url || defaultUrl();
    this.token = token;
    this.getToken = getToken;
    this.refreshBeforeSeconds = refreshBeforeSeconds;
    this.backoff = { ...DEFAULT_BACKOFF, ...(backoff || {}) };
    this.requestTimeoutMs = requestTimeoutMs;
    // The highest notification id seen: the `since` of the next (re)connection.
    this.lastId = since === undefined || since === null ? null : Number(since);
    this.unread = null; // the last known unread count
    this.countedThrough = 0; // notifications with ids up to this are already in `unread`
    this.userId = null;
    this.state = "closed";
    this.ws = null;
    this.listeners = new Map();
    this.pending = new Map(); // request_id -> {resolve, reject, timer}
    this.nextRequest = 1;
    this.attempt = 0; // failed connection attempts in a row, for the backoff
    this.wanted = false; // false after close(): no reconnecting
    this.replaying = false; // between a replay's start and its sync_complete
    this.everOpen = false; // a connection was established: later ones resume
    this.resumed = false; // this connection resumed an earlier one (emit "resync" after its replay)
    this.reconnectTimer = null;
    this.refreshTimer = null;
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

  // ---- connection ---------------------------------------------------------------------------

  connect() {
    this.wanted = true;
    clearTimeout(this.reconnectTimer);
    if (this.ws) return this;
    const state = this.attempt === 0 ? "connecting" : "reconnecting";
    if (!this.token && this.getToken) this.freshToken().then((ok) => ok && this.wanted && !this.ws && this.open(state));
    else this.open(state);
    return this;
  }

  close() {
    this.wanted = false;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.refreshTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, "client closed");
    this.failPending(new Error("connection closed"));
    this.attempt = 0;
    this.setState("closed");
  }

  // The `since` of the next connection: the last id seen, or the first greeting's `last_id`;
  // none on a first connection without `since` (the server then sends what comes next).
  resumeFrom() {
    return this.lastId;
  }

  // The URL of the next connection: the token, and `since` when there is something to resume.
  connectUrl() {
    const url = new URL(this.url, location.href);
    url.searchParams.set("token", this.token || "");
    const since = this.resumeFrom();
    if (since !== null) url.searchParams.set("since", String(since));
    else url.searchParams.delete("since");
    return url.toString();
  }

  open(state) {
    this.setState(state);
    const url = this.connectUrl();
    // Logged without the token (tokens never appear in logs).
    this.emit("connecting", url.replace(/token=[^&]*/, "token=…"));
    let ws;
    try {
      ws = new WebSocket(url);
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
      if (this.ws === ws) this.closed(event.code, event.reason);
    };
    // A failed connection also fires close (code 1006); nothing else to do here.
    ws.onerror = () => {};
  }

  closed(code, reason) {
    this.ws = null;
    clearTimeout(this.refreshTimer);
    this.failPending(new Error(`connection closed (${code})`));
    if (!this.wanted) return this.setState("closed");
    if (code === 4003) {
      // An administrator disconnected this user's sockets: stay closed until the app calls
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
      if (this.wanted && !this.ws) this.open("reconnecting");
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
      if (frame.type === "error") reject(Object.assign(new Error(`${frame.code}: ${frame.message}`), { frame }));
      else resolve(frame);
    } else if (frame.type === "error") {
      this.emit("error", frame);
    }
  }

  // Turns frames into events, keeping lastId and unreadCount current.
  dispatch(frame) {
    switch (frame.type) {
      case "connection_established":
        this.userId = frame.user_id;
        // Without a replay, everything after the greeting's last_id reaches this socket: a
        // later resume starts there. (During a replay, its sync_complete moves lastId.)
        if (!this.replaying) this.track(frame.last_id);
        this.resumed = this.everOpen && this.replaying;
        this.everOpen = true;
        this.attempt = 0;
        this.setState("open");
        // The greeting's count and last_id are one snapshot: everything up to last_id is in it,
        // so such a notification arriving live later must not be counted again.
        this.countedThrough = frame.last_id || 0;
        this.count(frame.unread_count, frame);
        this.scheduleRefresh();
        break;
      case "notification":
        this.seen(frame.notification, frame);
        break;
      case "notification_sent":
        // Sent to ourselves from this socket: the server sends only this reply, no push.
        if (frame.notification && frame.notification.user_id === this.userId) this.seen(frame.notification, frame);
        break;
      case "sync_complete":
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
        break;
      case "resync":
        this.count(frame.unread_count, frame);
        this.emit("resync", frame.unread_count, frame);
        break;
      case "notification_read":
        this.emit("read", frame.notification_id, frame.unread_count, frame);
        this.count(frame.unread_count, frame);
        break;
      case "notification_unread":
        this.emit("unread", frame.notification_id, frame.unread_count, frame);
        this.count(frame.unread_count, frame);
        break;
      case "all_read":
        this.emit("all_read", frame.marked, frame);
        this.count(frame.unread_count, frame);
        break;
      case "notification_deleted":
        this.emit("deleted", frame.notification_id, frame.unread_count, frame);
        this.count(frame.unread_count, frame);
        break;
      case "notifications":
        // A page of the inbox counts as seen: a later resume starts above its newest.
        for (const n of frame.notifications || []) this.track(n.id);
        this.count(frame.unread_count, frame);
        break;
      case "unread_count":
        this.count(frame.unread_count, frame);
        break;
    }
  }

  seen(notification, frame) {
    if (!notification) return;
    this.track(notification.id);
    this.emit("notification", notification, frame);
    // Live ones are new and add to the count; replayed ones, and any the greeting counted, are
    // already in it.
    const counted = notification.id <= this.countedThrough;
    if (!this.replaying && !counted && !notification.is_read && this.unread !== null) {
      this.countedThrough = notification.id;
      this.count(this.unread + 1, frame);
    }
  }

  track(id) {
    if (typeof id === "number" && (this.lastId === null || id > this.lastId)) this.lastId = id;
  }

  count(value, frame) {
    if (typeof value !== "number") return;
    this.unread = value;
    this.emit("unread_count", value, frame);
  }

  failPending(err) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(err);
    }
    this.pending.clear();
  }

  // ---- requests -----------------------------------------------------------------------------

  // Sends `frame` with a fresh request_id; resolves with the reply carrying it, rejects on an
  // error frame for it, on timeout, or when the connection closes first.
  request(frame) {
    const reply = new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return reject(new Error("not connected"));
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

  markRead(id) {
    return this.request({ type: "mark_read", notification_id: id });
  }

  markAllRead() {
    return this.request({ type: "mark_all_read" });
  }

  deleteNotification(id) {
    return this.request({ type: "delete_notification", notification_id: id });
  }

  // {user_id?, title, message?, notification_type?, data?, link?}
  send(notification) {
    return this.request({ type: "send_notification", ...notification });
  }

  // {limit?, before?, unread?}
  getNotifications(opts = {}) {
    return this.request({ type: "get_notifications", ...opts });
  }

  unreadCount() {
    return this.request({ type: "get_unread_count" });
  }

  sync(since = this.lastId ?? 0) {
    return this.request({ type: "sync", since });
  }

  ping() {
    return this.request({ type: "ping" });
  }

  // Sends refresh_token now (with getToken() when no token is given).
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

function defaultUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/notifications/`;
}
