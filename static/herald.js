// herald.js: a small, dependency-free browser client for Herald's WebSocket API (README,
// "WebSocket API"). Served by every node at /static/herald.js; copy it into your app as is.
//
//   import { HeraldClient } from "/static/herald.js";
//   const herald = new HeraldClient({ token, getToken: fetchFreshToken });
//   herald.on("notification", (n) => show(n));
//   herald.on("unread_count", (count) => badge.textContent = count);
//   herald.on("unseen_count", (count) => newBadge.textContent = count);
//   herald.connect();
//   await herald.markRead(42);
//   await herald.markAllSeen(); // the inbox panel was opened
//
// Resuming: the client remembers the highest notification id it saw (notification frames,
// notifications replies, sync_complete.last_id, and the greeting's last_id when nothing was
// replayed) and reconnects with ?since=<that id>, so the server replays only what was created
// meanwhile: nothing is missed, nothing comes twice, and the history is never replayed whole.
// Reads and deletes made while away are not replayed: after a resumed connection's replay the
// client emits "resync" (so does a server `resync` frame), and the app fetches its list again.
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
//   unsnoozed     (notifications)      snoozed notifications came back, unread and unseen: put
//                                       them back in the default list
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
    this.unseen = null; // the last known unseen count (unread and never seen)
    this.countedThrough = 0; // notifications with ids up to this are already in `unread` and `unseen`
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

  // Turns frames into events, keeping lastId and the unread and unseen counts current.
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
        this.counts(frame);
        this.scheduleRefresh();
        break;
      case "notification":
        this.received(frame.notification, frame);
        break;
      case "notification_sent":
        // Sent to ourselves from this socket: the server sends only this reply, no push.
        if (frame.notification && frame.notification.user_id === this.userId) this.received(frame.notification, frame);
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

  // {user_id?, title, message?, notification_type?, data?, link?}
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

// A filter for the server: times as RFC 3339 strings.
function filterBody(filter) {
  const body = { ...filter };
  for (const name of ["created_after", "created_before"]) {
    if (body[name] instanceof Date) body[name] = rfc3339(body[name], name);
  }
  return body;
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

function defaultUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/notifications/`;
}
