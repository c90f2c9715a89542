// The test page's script (static/index.html), a module of its own: the page's
// Content-Security-Policy (`default-src 'self'`) runs no inline script. It uses the package
// clients/js (@herald-notify/client) as the node serves it at /static/herald.js, and names its
// server explicitly: this node (the package itself never reads `location`).
import { HeraldClient, applyAction, applyUpdate, matchesFilter } from "/static/herald.js";

const $ = (id) => document.getElementById(id);
let client = null;
let devTokens = false; // GET /dev/token answers: the node runs on its development secret

// The lists the Notifications panel shows (its tabs): each one's filter, and the actions whose
// notifications may come into it (then it is fetched again: the page does not hold them).
const VIEWS = {
  inbox: { filter: {}, empty: "No notifications yet.", comeIn: ["unarchive", "unread"] },
  archived: { filter: { archived: true }, empty: "Nothing archived.", comeIn: ["archive"] },
  snoozed: { filter: { snoozed: true }, empty: "Nothing snoozed.", comeIn: ["snooze"] },
};
let view = "inbox";
const shown = new Map(); // id -> the notification as listed
let loads = 0; // list fetches started: only the newest one's answer is shown
let seenWanted = false; // a load that marks the inbox seen was asked for (a later one may answer it)

// ---- frame log (newest first, bounded, tokens elided) -----------------------------------------

function log(kind, text) {
  const item = document.createElement("li");
  item.className = kind;
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $("log").prepend(item);
  while ($("log").children.length > 300) $("log").lastChild.remove();
}
const show = (frame) => JSON.stringify(frame, (k, v) => (k === "token" ? "…" : v));
const fail = (err) => log("err", `! ${err.message || show(err)}`);

// ---- notifications list -------------------------------------------------------------------------

const button = (className, text, run) => {
  const b = document.createElement("button");
  b.className = `small secondary ${className}`;
  b.textContent = text;
  b.onclick = () => (client ? run().catch(fail) : fail(new Error("connect first")));
  return b;
};
const when = (at) => (at ? new Date(at).toLocaleString() : "");

function item(n) {
  const li = document.createElement("li");
  li.dataset.id = n.id;
  const unseen = !n.is_read && !n.seen_at;
  li.classList.add(n.is_read ? "read" : "unread");
  li.classList.toggle("unseen", unseen);
  li.classList.toggle("archived", !!n.archived_at);
  li.classList.toggle("snoozed", !!n.snoozed_until);
  const body = document.createElement("div");
  body.className = "body";
  const head = document.createElement("div");
  head.className = "head";
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = n.title;
  head.append(title);
  if (unseen) {
    const pill = document.createElement("span");
    pill.className = "pill new";
    pill.textContent = "new";
    head.append(pill);
  }
  const message = document.createElement("div");
  message.className = "message";
  message.textContent = n.message || "";
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `#${n.id} · ${n.notification_type} · ${n.created_at}` + (n.sender_id ? ` · from ${n.sender_id}` : "");
  if (n.archived_at) meta.textContent += ` · archived ${when(n.archived_at)}`;
  if (n.snoozed_until) meta.textContent += ` · snoozed until ${when(n.snoozed_until)}`;
  if (n.link && /^https?:\/\//.test(n.link)) {
    const a = document.createElement("a");
    a.href = n.link;
    a.textContent = " · link";
    a.target = "_blank";
    a.rel = "noopener";
    meta.append(a);
  }
  body.append(head, message, meta);
  const actions = document.createElement("div");
  actions.className = "actions";
  // What can be done depends on the notification's state, not on the tab it is listed in.
  if (n.archived_at) {
    actions.append(button("unarchive", "Unarchive", () => client.unarchive(n.id)));
  } else if (n.snoozed_until) {
    actions.append(button("unsnooze", "Unsnooze", () => client.markUnread(n.id)));
  } else {
    const read = button("mark-read", "Mark read", () => client.markRead(n.id));
    const unread = button("mark-unread", "Mark unread", () => client.markUnread(n.id));
    read.hidden = !!n.is_read;
    unread.hidden = !n.is_read;
    const snooze = button("snooze", "Snooze 1h", () => client.snooze(n.id, new Date(Date.now() + 3600e3)));
    actions.append(read, unread, snooze, button("archive", "Archive", () => client.archive(n.id)));
  }
  actions.append(button("delete", "Delete", () => client.deleteNotification(n.id)));
  li.append(body, actions);
  return li;
}

const entry = (id) => $("notifications").querySelector(`li[data-id="${Number(id)}"]`);

// Inserts or replaces, keeping the list newest first.
function upsert(n) {
  $("notifications").querySelector(".empty")?.remove();
  shown.set(n.id, n);
  const fresh = item(n);
  const old = entry(n.id);
  if (old) return old.replaceWith(fresh);
  const after = [...$("notifications").children].find((li) => Number(li.dataset.id) < n.id);
  $("notifications").insertBefore(fresh, after || null);
}

function remove(id) {
  shown.delete(Number(id));
  entry(id)?.remove();
  placeholder(VIEWS[view].empty);
}

// Lists it when it belongs in the list shown (the tab's filter), else takes it out.
function place(n) {
  if (matchesFilter(n, VIEWS[view].filter)) upsert(n);
  else remove(n.id);
}

// An action on one listed notification (read, unread: here or in another tab).
function change(id, action) {
  const n = shown.get(Number(id));
  if (n) place(applyAction(n, action));
}

// A notifications_updated frame (this page's action, or another tab's): the listed ones it is
// about change or leave; when others may now belong in the list shown, it is fetched again.
function updated(update) {
  for (const n of [...shown.values()]) {
    const after = applyUpdate(n, update);
    if (after === n) continue;
    if (after) place(after);
    else remove(n.id);
  }
  const unknown = !update.ids || update.ids.some((id) => !shown.has(id));
  if (update.changed > 0 && unknown && VIEWS[view].comeIn.includes(update.action)) load();
}

function replaceAll(list) {
  $("notifications").replaceChildren();
  shown.clear();
  for (const n of list) upsert(n);
  if (!list.length) placeholder(VIEWS[view].empty);
}

function placeholder(text) {
  if ($("notifications").children.length) return;
  const li = document.createElement("li");
  li.className = "empty";
  li.textContent = text;
  $("notifications").append(li);
}

// Fetches the list of the tab shown; `markSeen` when the inbox is being shown to the user (on
// connecting, or its tab): then everything in it is marked seen, as opening a real inbox does.
// aria-busy is "true" until both are done; data-loaded then counts the lists shown.
function load({ markSeen = false } = {}) {
  const generation = ++loads;
  const list = $("notifications");
  const which = view;
  seenWanted ||= markSeen;
  list.setAttribute("aria-busy", "true");
  return client
    .getNotifications({ limit: 50, ...VIEWS[which].filter })
    .then((r) => {
      if (generation !== loads) return;
      replaceAll(r.notifications);
      const seen = seenWanted && which === "inbox";
      seenWanted = false;
      if (seen) return client.markAllSeen();
    })
    .catch(fail)
    .finally(() => {
      if (generation !== loads) return;
      list.setAttribute("aria-busy", "false");
      list.dataset.loaded = generation;
    });
}

// Shows one of the panel's tabs (VIEWS).
function openView(name) {
  view = name;
  for (const tab of document.querySelectorAll(".tabs [role=tab]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.view === name));
  }
  $("notifications").dataset.view = name;
  if (client && client.state === "open") load({ markSeen: true });
}

function badge(count) {
  $("unread-badge").textContent = count;
  $("unread-badge").classList.toggle("zero", count === 0);
}

function unseenBadge(count) {
  $("unseen-badge").textContent = count;
  $("unseen-badge").classList.toggle("zero", count === 0);
}

// ---- connection ---------------------------------------------------------------------------------

async function mint() {
  const res = await fetch(`/dev/token?user=${encodeURIComponent($("user").value || 1)}&staff=${$("staff").checked}`);
  if (!res.ok) throw new Error(`GET /dev/token: ${res.status}`);
  return (await res.json()).token;
}

function connect() {
  client?.close();
  const token = $("token").value.trim();
  if (!token) return fail(new Error("paste or mint a token first"));
  const since = $("since").value === "" ? undefined : Number($("since").value);
  // With development tokens the page can renew its own token; otherwise it keeps the pasted one.
  // `/?transport=sse` (or websocket) pins the transport; the default is "auto".
  const transport = new URLSearchParams(location.search).get("transport") || "auto";
  try {
    client = new HeraldClient({ baseUrl: location.origin, token, since, transport, getToken: devTokens ? mint : undefined });
  } catch (err) {
    return fail(err);
  }
  client.on("transport", (transport) => log("info", `· transport ${transport}`));
  client.on("frame", (f) => log("in", `← ${show(f)}`));
  client.on("sent", (f) => log("out", `→ ${show(f)}`));
  client.on("connecting", (url) => log("info", `· connecting ${url}`));
  client.on("error", fail);
  client.on("state", (state) => {
    $("state").textContent = state;
    $("state").className = state;
    $("connect").disabled = state !== "closed";
    $("disconnect").disabled = state === "closed";
    log("info", `· ${state}`);
    // Each (re)connection reloads the newest page: reads and deletes made while away show too.
    // The list is shown to the user: the inbox's notifications are seen.
    if (state === "open") load({ markSeen: true });
  });
  client.on("notification", place);
  client.on("read", (id) => change(id, "read"));
  client.on("unread", (id) => {
    change(id, "unread");
    // Unread brings a notification back from the archive or its snooze.
    if (!shown.has(Number(id)) && view === "inbox") load();
  });
  client.on("all_read", () => [...shown.keys()].forEach((id) => change(id, "read")));
  client.on("deleted", remove);
  client.on("updated", updated);
  client.on("unsnoozed", (notifications) => notifications.forEach(place));
  client.on("unread_count", badge);
  client.on("unseen_count", unseenBadge);
  // Reads or deletes were missed (the server's resync frame, or a resumed connection).
  client.on("resync", () => load());
  client.connect();
}

// ---- controls -------------------------------------------------------------------------------------

$("connect").onclick = connect;
$("disconnect").onclick = () => client?.close();
$("mint").onclick = () => mint().then((t) => ($("token").value = t), fail);
$("clear-log").onclick = () => $("log").replaceChildren();

const act = (id, run) => ($(id).onclick = () => (client ? run().catch(fail) : fail(new Error("connect first"))));
const filter = () => ({ ...VIEWS[view].filter, ...($("unread-only").checked ? { unread: true } : {}) });
act("get-notifications", () =>
  client.getNotifications({ limit: Number($("limit").value) || 50, ...filter() }).then((r) => r.notifications.forEach(place)));
act("mark-all-read", () => client.markAllRead());
act("unread-count", () => client.unreadCount());
act("ping", () => client.ping());
act("get-preferences", () => client.getPreferences());
act("mark-all-seen", () => client.markAllSeen());
act("archive-all-read", () => client.archiveAllRead());
act("sync", () => client.sync(Number($("sync-since").value) || 0));
// With development tokens: a freshly minted one; otherwise whatever is in the token box.
act("refresh-token", () => client.refreshToken(devTokens ? undefined : $("token").value.trim()));
// The panel's tabs: showing the inbox marks it seen.
for (const tab of document.querySelectorAll(".tabs [role=tab]")) tab.onclick = () => openView(tab.dataset.view);

$("send-form").onsubmit = (event) => {
  event.preventDefault();
  if (!client) return fail(new Error("connect first"));
  let data;
  try {
    data = JSON.parse($("send-data").value || "{}");
  } catch (err) {
    return fail(new Error(`data is not JSON: ${err.message}`));
  }
  const frame = { title: $("send-title").value, message: $("send-message").value, notification_type: $("send-type").value, data };
  if ($("send-user").value) frame.user_id = Number($("send-user").value);
  if ($("send-link").value.trim()) frame.link = $("send-link").value.trim();
  client.send(frame).catch(fail);
};

// Offer minting only where the node mints (its random development secret).
fetch("/dev/token?user=1").then((res) => {
  devTokens = res.ok;
  $("mint-row").hidden = !devTokens;
  $("mint-hint").textContent = devTokens
    ? "This node runs on a development secret: mint a token for any user."
    : "Mint a token with: herald token --user 1 --staff (same JWT_SECRET as this node).";
}, () => {});
