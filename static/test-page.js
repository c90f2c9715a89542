// The test page's script (static/index.html), a module of its own: the page's
// Content-Security-Policy (`default-src 'self'`) runs no inline script.
import { HeraldClient } from "/static/herald.js";

const $ = (id) => document.getElementById(id);
let client = null;
let devTokens = false; // GET /dev/token answers: the node runs on its development secret

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

function item(n) {
  const li = document.createElement("li");
  li.dataset.id = n.id;
  const body = document.createElement("div");
  body.className = "body";
  const title = document.createElement("div");
  title.className = "title";
  title.textContent = n.title;
  const message = document.createElement("div");
  message.className = "message";
  message.textContent = n.message || "";
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `#${n.id} · ${n.notification_type} · ${n.created_at}` + (n.sender_id ? ` · from ${n.sender_id}` : "");
  if (n.link && /^https?:\/\//.test(n.link)) {
    const a = document.createElement("a");
    a.href = n.link;
    a.textContent = " · link";
    a.target = "_blank";
    a.rel = "noopener";
    meta.append(a);
  }
  body.append(title, message, meta);
  const actions = document.createElement("div");
  actions.className = "actions";
  const read = document.createElement("button");
  read.className = "small secondary mark-read";
  read.textContent = "Mark read";
  read.onclick = () => client?.markRead(n.id).catch(fail);
  const del = document.createElement("button");
  del.className = "small secondary delete";
  del.textContent = "Delete";
  del.onclick = () => client?.deleteNotification(n.id).catch(fail);
  actions.append(read, del);
  li.append(body, actions);
  setRead(li, n.is_read);
  return li;
}

function setRead(li, isRead) {
  li.classList.toggle("unread", !isRead);
  li.classList.toggle("read", !!isRead);
  li.querySelector(".mark-read").disabled = !!isRead;
}

const entry = (id) => $("notifications").querySelector(`li[data-id="${Number(id)}"]`);

// Inserts or replaces, keeping the list newest first.
function upsert(n) {
  $("notifications").querySelector(".empty")?.remove();
  const fresh = item(n);
  const old = entry(n.id);
  if (old) return old.replaceWith(fresh);
  const after = [...$("notifications").children].find((li) => Number(li.dataset.id) < n.id);
  $("notifications").insertBefore(fresh, after || null);
}

function replaceAll(list) {
  $("notifications").replaceChildren();
  for (const n of list) upsert(n);
  if (!list.length) placeholder("No notifications yet.");
}

function placeholder(text) {
  if ($("notifications").children.length) return;
  const li = document.createElement("li");
  li.className = "empty";
  li.textContent = text;
  $("notifications").append(li);
}

function badge(count) {
  $("unread-badge").textContent = count;
  $("unread-badge").classList.toggle("zero", count === 0);
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
  client = new HeraldClient({ token, since, getToken: devTokens ? mint : undefined });
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
    if (state === "open") client.getNotifications({ limit: 50 }).then((r) => replaceAll(r.notifications), fail);
  });
  client.on("notification", upsert);
  client.on("read", (id) => entry(id) && setRead(entry(id), true));
  client.on("unread", (id) => entry(id) && setRead(entry(id), false));
  client.on("all_read", () => $("notifications").querySelectorAll("li[data-id]").forEach((li) => setRead(li, true)));
  client.on("deleted", (id) => {
    entry(id)?.remove();
    placeholder("No notifications.");
  });
  client.on("unread_count", badge);
  // Reads or deletes were missed (the server's resync frame, or a resumed connection).
  client.on("resync", () => client.getNotifications({ limit: 50 }).then((r) => replaceAll(r.notifications), fail));
  client.connect();
}

// ---- controls -------------------------------------------------------------------------------------

$("connect").onclick = connect;
$("disconnect").onclick = () => client?.close();
$("mint").onclick = () => mint().then((t) => ($("token").value = t), fail);
$("clear-log").onclick = () => $("log").replaceChildren();

const act = (id, run) => ($(id).onclick = () => (client ? run().catch(fail) : fail(new Error("connect first"))));
act("get-notifications", () =>
  client.getNotifications({ limit: Number($("limit").value) || 50, ...($("unread-only").checked ? { unread: true } : {}) })
    .then((r) => r.notifications.forEach(upsert)));
act("mark-all-read", () => client.markAllRead());
act("unread-count", () => client.unreadCount());
act("ping", () => client.ping());
act("sync", () => client.sync(Number($("sync-since").value) || 0));
// With development tokens: a freshly minted one; otherwise whatever is in the token box.
act("refresh-token", () => client.refreshToken(devTokens ? undefined : $("token").value.trim()));

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
