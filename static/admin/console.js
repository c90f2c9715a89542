// Herald admin: the console of Herald's admin API (/admin/api/…), served at /admin/ with
// index.html and console.css. The page's Content-Security-Policy (default-src 'self') runs no
// inline script or style, so this module builds every element with createElement/textContent:
// API data (titles, messages, data, user agents…) is untrusted and never goes through innerHTML.
// The staff token lives in sessionStorage only (never the URL, never localStorage); routing is
// by location.hash (#/notifications, #/notifications/{id}, #/users/{id}, #/preferences,
// #/cluster, #/audit, #/send).

const TOKEN_KEY = "herald.admin.token";
const PAGE_SIZE = 50;
const CLUSTER_EVERY_MS = 2000;
const TOKEN_BAD = "token expired or invalid";
const NOT_STAFF = "this token is not staff (needs is_staff or the notifications:admin scope)";
const FALLBACK_TYPES = ["meeting", "meeting_response", "action_item", "general", "approval",
  "meeting_invitation", "meeting_scheduled", "mom_created"];

const $ = (id) => document.getElementById(id);

// ---- DOM helper -------------------------------------------------------------------------------

const PROPS = new Set(["value", "checked", "disabled", "hidden"]);

/** createElement with attributes (`class`, `dataset`, `on<event>` functions, properties) and
 *  children (nodes or strings, as text; null/false skipped; arrays flattened). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  el.append(...children.flat(Infinity).filter((c) => c != null && c !== false)
    .map((c) => (c instanceof Node ? c : String(c))));
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value == null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (PROPS.has(key)) /** @type {any} */ (el)[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  return el;
}

const option = (value, label, selected) => h("option", { value, selected }, label);

/** Replaces `el`'s children, skipping null/false as `h` does (replaceChildren would write "null"). */
function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c != null && c !== false));
}
const field = (label, input, hint) => h("div", { class: "field" },
  h("label", { for: input.id }, label), input, hint ? h("small", { class: "hint" }, hint) : null);

// ---- formatting -------------------------------------------------------------------------------

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const fmtNum = (n) => (n == null ? "—" : Number(n).toLocaleString());
const fmtRate = (n) => (n == null ? "—"
  : Number(n).toLocaleString(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 }));
const plural = (n, one, many = `${one}s`) => `${fmtNum(n)} ${n === 1 ? one : many}`;

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

/** @type {Array<[number, Intl.RelativeTimeFormatUnit]>} */
const REL_STEPS = [[60, "second"], [60, "minute"], [24, "hour"], [7, "day"], [4.35, "week"], [12, "month"]];

function relTime(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return "—";
  let value = (d.getTime() - Date.now()) / 1000;
  for (const [size, unit] of REL_STEPS) {
    if (Math.abs(value) < size) return rtf.format(Math.round(value), unit);
    value /= size;
  }
  return rtf.format(Math.round(value), "year");
}

/** A <time>: local time shown, relative in the tooltip (or the other way round). */
const timeEl = (iso, relative = false) => (iso
  ? h("time", { datetime: iso, title: relative ? fmtTime(iso) : relTime(iso) }, relative ? relTime(iso) : fmtTime(iso))
  : "—");

/** datetime-local value ⇄ RFC 3339 UTC. */
function localToIso(value) {
  const d = value ? new Date(value) : null;
  return d && !Number.isNaN(d.getTime()) ? d.toISOString() : "";
}
function isoToLocal(iso) {
  const d = iso ? new Date(iso) : null;
  if (!d || Number.isNaN(d.getTime())) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

const userLink = (id) => (id == null ? "—" : h("a", { href: `#/users/${id}` }, String(id)));
const notificationLink = (id) => h("a", { href: `#/notifications/${id}` }, `#${id}`);
const typeHue = (t) => [...String(t)].reduce((a, c) => (a * 31 + c.charCodeAt(0)) >>> 0, 7) % 6;
const typePill = (t) => h("span", { class: `pill hue${typeHue(t)}` }, t);
const readBadge = (read) => h("span", { class: `badge ${read ? "read" : "unread"}` }, read ? "read" : "unread");
const isPositiveId = (s) => /^[1-9][0-9]{0,17}$/.test(String(s).trim());

// ---- status, loading, busy buttons ------------------------------------------------------------

let statusTimer = 0;

/** Shows a message in #status (a toast); `kind` is ok, warn or error. */
function say(message, kind = "ok") {
  clearTimeout(statusTimer);
  fill($("status"), ...[message].flat());
  $("toast").className = `toast show ${kind}`;
  $("status-close").hidden = false;
  statusTimer = setTimeout(clearStatus, kind === "error" ? 15000 : 7000);
}
function clearStatus() {
  clearTimeout(statusTimer);
  $("toast").className = "toast";
  $("status-close").hidden = true;
  fill($("status"));
}

function showError(err) {
  if (err?.status === 401) return; // signOut already said so
  if (!(err instanceof ApiError || err instanceof InputError)) console.error(err);
  say(err?.message || String(err), "error");
}

let inFlight = 0;
function loading(delta) {
  inFlight = Math.max(0, inFlight + delta);
  document.body.classList.toggle("loading", inFlight > 0);
}

/** Runs `fn` with `button` disabled (and marked busy); shows any error. */
async function busy(button, fn) {
  const was = button?.disabled ?? false;
  if (button) { button.disabled = true; button.setAttribute("aria-busy", "true"); }
  try {
    return await fn();
  } catch (err) {
    showError(err);
    return undefined;
  } finally {
    if (button) { button.disabled = was; button.removeAttribute("aria-busy"); }
  }
}

/** A page-level error with a retry button. */
const errorBox = (err, retry) => h("div", { class: "error-box", role: "alert" },
  h("strong", {}, err?.status ? `Error ${err.status}` : "Error"), " ", err?.message || String(err),
  retry ? h("button", { type: "button", class: "small", onclick: retry }, "Retry") : null);
const loadingBox = () => h("div", { class: "placeholder" }, "Loading…");

// ---- API --------------------------------------------------------------------------------------

/** A mistake in what the operator typed (shown, not logged). */
class InputError extends Error {}

class ApiError extends Error {
  constructor(status, code, message, field = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** Calls the API with the bearer token; answers the parsed JSON or throws an ApiError whose
 *  message is the API's. A 401 signs out (unless signing in). */
async function api(method, path, body = undefined, { quiet = false, signingIn = false } = {}) {
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: /** @type {RequestCache} */ ("no-store") };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (!quiet) loading(1);
  let res;
  let data = null;
  try {
    res = await fetch(path, init);
    const text = await res.text();
    if (text) { try { data = JSON.parse(text); } catch { data = null; } }
  } catch (err) {
    throw new ApiError(0, "network", `network error: ${err?.message || err}`);
  } finally {
    if (!quiet) loading(-1);
  }
  if (res.ok) return data;
  const detail = data?.error ?? {};
  let message = detail.message || `${res.status} ${res.statusText || "error"}`;
  if (res.status === 401) message = TOKEN_BAD;
  else if (res.status === 403 && path.startsWith("/admin/api/")) message = NOT_STAFF;
  if (detail.field && res.status === 400) message += ` (field: ${detail.field})`;
  const retryAfter = res.headers.get("Retry-After");
  if (retryAfter && (res.status === 429 || res.status === 503)) message += ` — retry in ${retryAfter} s`;
  const error = new ApiError(res.status, detail.code ?? `http_${res.status}`, message, detail.field ?? null);
  if (res.status === 401 && !signingIn) signOut(`Signed out: ${TOKEN_BAD}`);
  throw error;
}

let typesPromise = null;
/** The notification types, from the OpenAPI document (once). */
function getTypes() {
  typesPromise ??= fetch("/openapi.json", { headers: { Accept: "application/json" } })
    .then((res) => (res.ok ? res.json() : Promise.reject(new Error(String(res.status)))))
    .then((doc) => {
      const list = doc?.components?.schemas?.NotificationType?.enum;
      if (Array.isArray(list) && list.length && list.every((t) => typeof t === "string")) return list;
      throw new Error("no NotificationType enum");
    })
    .catch(() => FALLBACK_TYPES);
  return typesPromise;
}

// ---- token and session ------------------------------------------------------------------------

function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
}

/** The JWT payload, decoded for display only (never trusted). */
function tokenClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part + "===".slice((part.length + 3) % 4)), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

function updateWho() {
  const who = $("who");
  const claims = tokenClaims(getToken() ?? "");
  if (!claims) { who.textContent = "signed in"; return; }
  const id = claims.user_id ?? claims.sub;
  const parts = [id != null ? `user ${id}` : "signed in"];
  if (claims.is_staff === true) parts.push("staff");
  if (typeof claims.exp === "number") {
    const left = claims.exp * 1000 - Date.now();
    parts.push(left > 0 ? `expires ${relTime(new Date(claims.exp * 1000).toISOString())}` : "expired");
    who.title = `Token expires ${new Date(claims.exp * 1000).toLocaleString()}`;
  }
  who.textContent = parts.join(" · ");
}

let whoTimer = 0;

function showApp() {
  $("sign-in-screen").hidden = true;
  $("app").hidden = false;
  updateWho();
  clearInterval(whoTimer);
  whoTimer = setInterval(updateWho, 30000);
  route();
}

function showSignIn(message = "") {
  $("app").hidden = true;
  $("sign-in-screen").hidden = false;
  const err = $("sign-in-error");
  err.textContent = message;
  err.hidden = !message;
  $("token-input").focus();
}

function signOut(message = "") {
  leavePage();
  view.gen++;
  clearInterval(whoTimer);
  try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* storage unavailable */ }
  const dialog = /** @type {HTMLDialogElement} */ ($("confirm-dialog"));
  if (dialog.open) dialog.close();
  fill($("view"));
  showSignIn(message);
  say(message || "Signed out", message ? "error" : "ok");
}

async function signIn(event) {
  event.preventDefault();
  const input = /** @type {HTMLTextAreaElement} */ ($("token-input"));
  const token = input.value.trim().replace(/^Bearer\s+/i, "");
  const err = $("sign-in-error");
  err.hidden = true;
  if (!token) { err.textContent = "Paste a token first"; err.hidden = false; return; }
  try { sessionStorage.setItem(TOKEN_KEY, token); } catch {
    err.textContent = "Session storage is unavailable in this browser"; err.hidden = false; return;
  }
  /** @type {any} */
  let failure = null;
  await busy($("sign-in"), async () => {
    try { await api("GET", "/admin/api/audit/?limit=1", undefined, { signingIn: true }); } catch (e) { failure = e; }
  });
  if (failure) {
    try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* ignore */ }
    err.textContent = failure.message;
    err.hidden = false;
    return;
  }
  input.value = "";
  clearStatus();
  showApp();
}

// ---- confirmation dialog ----------------------------------------------------------------------

/** Asks in the <dialog>; resolves true on #confirm-ok, false on #confirm-cancel or Escape. */
function confirmAction(message, okLabel = "Confirm") {
  const dialog = /** @type {HTMLDialogElement} */ ($("confirm-dialog"));
  fill($("confirm-message"), ...[message].flat());
  $("confirm-ok").textContent = okLabel;
  const back = /** @type {HTMLElement | null} */ (document.activeElement);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      if (back?.isConnected) back.focus();
    }, { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

function setupDialog() {
  const dialog = /** @type {HTMLDialogElement} */ ($("confirm-dialog"));
  $("confirm-ok").addEventListener("click", () => dialog.close("ok"));
  $("confirm-cancel").addEventListener("click", () => dialog.close("cancel"));
  // Escape fires `cancel` then `close` with an empty returnValue: a "no".
}

// ---- router -----------------------------------------------------------------------------------

const view = { gen: 0, leave: /** @type {null | (() => void)} */ (null) };
let lastListHash = "#/notifications";

const ROUTES = [
  [/^\/notifications$/, pageNotifications, "notifications", "Notifications"],
  [/^\/notifications\/([1-9][0-9]*)$/, pageDetail, "notifications", "Notification"],
  [/^\/users\/([1-9][0-9]*)$/, pageUser, null, "User"],
  [/^\/preferences$/, pagePreferences, "preferences", "Preferences"],
  [/^\/cluster$/, pageCluster, "cluster", "Cluster"],
  [/^\/audit$/, pageAudit, "audit", "Audit"],
  [/^\/send$/, pageSend, "send", "Send"],
];

function parseHash() {
  const raw = location.hash.replace(/^#/, "");
  const [path, query = ""] = raw.split("?", 2);
  return { path: !path || path === "/" ? "/notifications" : path.replace(/(.)\/$/, "$1"), params: new URLSearchParams(query) };
}

/** Navigates to `hash` (re-rendering when it is already the current one). */
function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function hashWith(base, params) {
  const qs = params.toString();
  return qs ? `${base}?${qs}` : base;
}

function leavePage() {
  const leave = view.leave;
  view.leave = null;
  leave?.();
}

function route() {
  if (!getToken()) { showSignIn(); return; }
  leavePage();
  const gen = ++view.gen;
  const { path, params } = parseHash();
  const match = ROUTES.find(([re]) => /** @type {RegExp} */ (re).test(path));
  const main = $("view");
  fill(main);
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.getAttribute("data-nav") === match?.[2]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!match) {
    document.title = "Not found · Herald admin";
    main.append(h("section", { class: "page" }, h("h1", {}, "Not found"),
      h("p", {}, "No such page. ", h("a", { href: "#/notifications" }, "Go to notifications"))));
    return;
  }
  const [re, page, , title] = match;
  document.title = `${title} · Herald admin`;
  const ctx = {
    main, params, args: path.match(/** @type {RegExp} */ (re)).slice(1),
    alive: () => gen === view.gen && getToken() != null,
    onLeave: (fn) => { if (gen === view.gen) view.leave = fn; },
  };
  /** @type {(ctx: any) => Promise<void>} */ (page)(ctx).catch((err) => {
    if (!ctx.alive()) return;
    fill(main, h("section", { class: "page" }, errorBox(err, route),
      h("p", {}, h("a", { class: "back", href: lastListHash }, "← Back to list"))));
    showError(err);
  });
}

// ---- shared tables ----------------------------------------------------------------------------

/** A table in a horizontally scrolling container; rows with `href` link the whole row. */
function table(id, headers, rows, emptyText) {
  const body = h("tbody", {}, rows.length ? rows
    : h("tr", { class: "empty" }, h("td", { colspan: headers.length }, emptyText)));
  return h("div", { class: "table-wrap" },
    h("table", { id, class: "grid" }, h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))), body));
}

function notificationRows(list) {
  return list.map((n) => h("tr", { dataset: { id: n.id, href: `#/notifications/${n.id}` }, class: n.is_read ? "" : "is-unread" },
    h("td", { class: "num" }, notificationLink(n.id)),
    h("td", { class: "num" }, userLink(n.user_id)),
    h("td", {}, typePill(n.notification_type)),
    h("td", { class: "title-cell", title: n.title }, n.title),
    h("td", {}, readBadge(n.is_read)),
    h("td", { class: "nowrap" }, timeEl(n.created_at))));
}

const notificationTable = (id, list) => table(id, ["ID", "User", "Type", "Title", "State", "Created"],
  notificationRows(list), "No notifications match");

// A click on a linked row (not on a control, not a text selection) opens its link.
document.addEventListener("click", (event) => {
  const target = /** @type {Element} */ (event.target);
  const row = target.closest?.("tr[data-href]");
  if (!row || target.closest("a, button, input, select, textarea, label")) return;
  if (String(window.getSelection() ?? "")) return;
  location.hash = /** @type {HTMLElement} */ (row).dataset.href;
});

function pager(buttons) {
  return h("div", { class: "pager" }, buttons);
}

// ---- notifications page -----------------------------------------------------------------------

const LIST_KEYS = ["user_id", "sender_id", "is_read", "type", "created_after", "created_before", "q", "before"];

async function pageNotifications(ctx) {
  lastListHash = location.hash || "#/notifications";
  const types = await getTypes();
  if (!ctx.alive()) return;
  const p = ctx.params;
  const results = h("div", { class: "results" }, loadingBox());
  ctx.main.append(h("section", { id: "notifications-page", class: "page" },
    h("div", { class: "page-head" }, h("h1", {}, "Notifications"),
      h("span", { class: "hint" }, "Press / to search")),
    filterForm(p, types), h("div", { class: "card flush" }, results)));

  const query = new URLSearchParams();
  for (const key of LIST_KEYS) { const v = p.get(key); if (v) query.set(key, v); }
  query.set("limit", String(PAGE_SIZE));
  let page;
  try {
    page = await api("GET", `/admin/api/notifications/?${query}`);
  } catch (err) {
    if (ctx.alive()) { fill(results, errorBox(err, route)); showError(err); }
    return;
  }
  if (!ctx.alive()) return;
  const list = page?.notifications ?? [];
  const newer = new URLSearchParams(p); newer.delete("before");
  const older = new URLSearchParams(p);
  if (page?.next_before != null) older.set("before", String(page.next_before));
  fill(results, notificationTable("notifications-table", list), pager([
    h("span", { class: "hint" }, p.get("before") ? `${plural(list.length, "notification")} below #${p.get("before")}`
      : plural(list.length, "notification") + (page?.next_before != null ? " (newest)" : "")),
    h("button", { id: "first-page", type: "button", disabled: !p.get("before"),
      onclick: () => go(hashWith("#/notifications", newer)) }, "Newest"),
    h("button", { id: "next-page", type: "button", disabled: page?.next_before == null,
      onclick: () => go(hashWith("#/notifications", older)) }, "Older →"),
  ]));
}

function filterForm(p, types) {
  const chosen = new Set((p.get("type") ?? "").split(",").filter(Boolean));
  const input = (id, attrs) => h("input", { id, ...attrs });
  const form = h("form", { id: "filters", class: "filters card", autocomplete: "off", role: "search" },
    h("div", { class: "filter-grid" },
      field("User id", input("f-user", { type: "text", inputmode: "numeric", pattern: "[1-9][0-9]*", value: p.get("user_id") ?? "" })),
      field("Sender id", input("f-sender", { type: "text", inputmode: "numeric", pattern: "[1-9][0-9]*", value: p.get("sender_id") ?? "" })),
      field("State", h("select", { id: "f-read" }, option("", "any", !p.get("is_read")),
        option("false", "unread", p.get("is_read") === "false"), option("true", "read", p.get("is_read") === "true"))),
      field("Created after", input("f-after", { type: "datetime-local", value: isoToLocal(p.get("created_after")) })),
      field("Created before", input("f-before", { type: "datetime-local", value: isoToLocal(p.get("created_before")) })),
      h("div", { class: "field grow" }, h("label", { for: "f-q" }, "Search title and message"),
        input("f-q", { type: "search", maxlength: 100, placeholder: "words…", value: p.get("q") ?? "" }))),
    h("fieldset", { id: "f-types", class: "types" }, h("legend", {}, "Types"),
      types.map((t) => h("label", { class: "check" },
        h("input", { type: "checkbox", name: "type", value: t, checked: chosen.has(t) }), t))),
    h("div", { class: "actions" },
      h("button", { id: "f-apply", type: "submit", class: "primary" }, "Apply"),
      h("button", { id: "f-reset", type: "button", onclick: () => go("#/notifications") }, "Reset")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = (id) => /** @type {HTMLInputElement} */ ($(id)).value.trim();
    const q = new URLSearchParams();
    const put = (key, v) => { if (v) q.set(key, v); };
    put("user_id", value("f-user"));
    put("sender_id", value("f-sender"));
    put("is_read", value("f-read"));
    put("type", [...form.querySelectorAll("input[name=type]:checked")].map((c) => /** @type {HTMLInputElement} */ (c).value).join(","));
    put("created_after", localToIso(value("f-after")));
    put("created_before", localToIso(value("f-before")));
    put("q", value("f-q"));
    go(hashWith("#/notifications", q));
  });
  return form;
}

// `/` focuses the search box on the notifications page, unless typing somewhere.
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = /** @type {Element} */ (event.target);
  if (target?.closest?.("input, textarea, select, [contenteditable]:not([contenteditable=false])")) return;
  const search = /** @type {HTMLInputElement | null} */ ($("f-q"));
  if (!search || /** @type {HTMLDialogElement} */ ($("confirm-dialog")).open) return;
  event.preventDefault();
  search.focus();
  search.select();
});

// ---- notification detail ----------------------------------------------------------------------

async function pageDetail(ctx) {
  const id = ctx.args[0];
  const box = h("section", { id: "detail", class: "page" }, loadingBox());
  ctx.main.append(box);
  const n = await api("GET", `/admin/api/notifications/${id}/`);
  if (ctx.alive()) renderDetail(box, n, ctx);
}

function renderDetail(box, n, ctx) {
  const row = (term, ...value) => [h("dt", {}, term), h("dd", {}, value)];
  const safeLink = typeof n.link === "string" && /^https?:\/\//i.test(n.link)
    ? h("a", { href: n.link, rel: "noopener noreferrer", target: "_blank", class: "break" }, n.link)
    : (n.link ?? "—");
  const setRead = (read) => async (event) => {
    const result = await busy(event.currentTarget, () => api("POST", `/admin/api/notifications/${n.id}/${read ? "read" : "unread"}/`));
    if (!result || !ctx.alive()) return;
    renderDetail(box, result.notification, ctx);
    say(`Marked ${read ? "read" : "unread"} · user ${result.notification.user_id} now has ${fmtNum(result.unread_count)} unread`);
    $(read ? "mark-unread" : "mark-read")?.focus();
  };
  const resend = async (event) => {
    const button = event.currentTarget;
    const ok = await confirmAction(`Send notification #${n.id} again to user ${n.user_id}, as a new notification? It is pushed live unless their preferences say otherwise.`, "Resend");
    if (!ok) return;
    const result = await busy(button, () => api("POST", `/admin/api/notifications/${n.id}/resend/`));
    if (!result) return;
    if (result.suppressed) say(`Not resent: suppressed by user ${n.user_id}'s preferences (${result.reason ?? "preference"})`, "warn");
    else say(["Resent as ", notificationLink(result.notification.id)]);
  };
  const remove = async (event) => {
    const button = event.currentTarget;
    const ok = await confirmAction(`Delete notification #${n.id} of user ${n.user_id}? This cannot be undone.`, "Delete");
    if (!ok) return;
    const result = await busy(button, () => api("DELETE", `/admin/api/notifications/${n.id}/`));
    if (!result) return;
    say(`Deleted notification #${n.id} · user ${n.user_id} now has ${fmtNum(result.unread_count)} unread`);
    if (ctx.alive()) go(lastListHash);
  };
  fill(box,
    h("a", { id: "back-to-list", class: "back", href: lastListHash }, "← Back to list"),
    h("div", { class: "page-head" }, h("h1", {}, `Notification #${n.id}`), readBadge(n.is_read)),
    h("div", { class: "actions" },
      n.is_read ? h("button", { id: "mark-unread", type: "button", onclick: setRead(false) }, "Mark unread")
        : h("button", { id: "mark-read", type: "button", class: "primary", onclick: setRead(true) }, "Mark read"),
      h("button", { id: "resend", type: "button", onclick: resend }, "Resend"),
      h("button", { id: "delete", type: "button", class: "danger", onclick: remove }, "Delete")),
    h("div", { class: "card" }, h("dl", { class: "fields" },
      row("ID", String(n.id)),
      row("User", userLink(n.user_id)),
      row("Sender", userLink(n.sender_id)),
      row("Type", typePill(n.notification_type)),
      row("Title", h("span", { class: "break" }, n.title)),
      row("Message", n.message ? h("div", { class: "message" }, n.message) : h("span", { class: "muted" }, "(empty)")),
      row("Link", safeLink),
      row("State", readBadge(n.is_read), n.read_at ? [" since ", timeEl(n.read_at)] : null),
      row("Created", timeEl(n.created_at), h("span", { class: "muted" }, ` (${relTime(n.created_at)})`)))),
    h("div", { class: "card" }, h("h2", {}, "Data"),
      h("pre", { id: "detail-data", class: "code" }, JSON.stringify(n.data ?? {}, null, 2))));
}

// ---- user page --------------------------------------------------------------------------------

async function pageUser(ctx) {
  const id = ctx.args[0];
  const box = h("section", { id: "user", class: "page" }, loadingBox());
  ctx.main.append(box);
  const user = await api("GET", `/admin/api/users/${id}/`);
  if (!ctx.alive()) return;
  const types = await getTypes();
  if (!ctx.alive()) return;
  const sockets = h("div", { class: "card", id: "sockets-card" });
  fill(box,
    h("div", { class: "page-head" }, h("h1", {}, `User ${id}`),
      h("span", { class: "stat" }, h("b", { id: "user-unread" }, fmtNum(user.unread_count)), " unread"),
      h("span", { class: "stat" }, h("b", { id: "user-total" }, fmtNum(user.total)), " total")),
    sockets,
    preferencesCard(id, user.preferences ?? {}, types, ctx),
    h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, "Inbox"),
      h("a", { id: "user-all-link", href: `#/notifications?user_id=${id}` }, `All of user ${id}'s notifications →`)),
    notificationTable("user-inbox", user.notifications ?? [])));
  await loadSockets(sockets, id, ctx);
}

async function loadSockets(card, id, ctx) {
  const head = (count, refresh, disconnect) => h("div", { class: "card-head" },
    h("h2", {}, "Live sockets"), h("span", { id: "sockets-count", class: "hint" }, count), h("span", { class: "spacer" }), refresh, disconnect);
  let known = 0;
  const refresh = h("button", { id: "sockets-refresh", type: "button", class: "small",
    onclick: (e) => busy(e.currentTarget, () => loadSockets(card, id, ctx)) }, "Refresh");
  const disconnect = h("button", { id: "disconnect-all", type: "button", class: "small danger", onclick: async (e) => {
    const button = e.currentTarget;
    const ok = await confirmAction(`Close ${plural(known, "socket")} of user ${id} on every node? Their clients get close code 4003.`, "Disconnect all");
    if (!ok) return;
    const result = await busy(button, () => api("POST", `/admin/api/users/${id}/disconnect/`));
    if (!result) return;
    const missing = result.nodes_unanswered ?? [];
    say(`Disconnected ${plural(result.disconnected, "socket")}` + (missing.length ? ` · not answering: ${missing.join(", ")}` : ""),
      missing.length ? "warn" : "ok");
    // The sockets were told to close; give them a moment to end before listing again.
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (ctx.alive()) await loadSockets(card, id, ctx);
  } }, "Disconnect all");
  if (!card.firstChild) card.append(head("loading…", refresh, disconnect), loadingBox());
  let reply;
  try {
    reply = await api("GET", `/admin/api/users/${id}/sockets/`);
  } catch (err) {
    if (ctx.alive()) { fill(card, head("", refresh, disconnect), errorBox(err)); showError(err); }
    return;
  }
  if (!ctx.alive()) return;
  const list = reply?.sockets ?? [];
  known = list.length;
  const nodes = new Set(list.map((s) => s.instance ?? s.node)).size;
  const missing = reply?.nodes_unanswered ?? [];
  const rows = list.map((s) => h("tr", { dataset: { node: s.node, instance: s.instance ?? "" } },
    h("td", { class: "strong", title: s.instance ?? "" }, s.node),
    h("td", { class: "nowrap" }, timeEl(s.connected_at, true)),
    h("td", { class: "mono" }, s.client_addr ?? "—"),
    h("td", { class: "ua", title: s.user_agent ?? "" }, s.user_agent ?? "—")));
  fill(card,
    head(`${plural(list.length, "socket")}${list.length ? ` on ${plural(nodes, "node")}` : ""}`, refresh, disconnect),
    missing.length ? h("p", { id: "sockets-warning", class: "warning", role: "alert" },
      `Not answering: ${missing.join(", ")} — sockets on ${missing.length === 1 ? "that node" : "those nodes"} are not listed.`) : null,
    table("user-sockets", ["Node", "Connected since", "Client address", "User agent"], rows, "No live sockets"));
}

function preferencesCard(id, prefs, types, ctx) {
  let saved = structuredClone(prefs);
  const order = [...types, ...Object.keys(prefs).filter((t) => !types.includes(t))];
  const value = (t, key) => saved[t]?.[key] ?? true;
  const box = (t, key) => h("input", { type: "checkbox", name: key, checked: value(t, key),
    "aria-label": `${t} ${key}`, onchange: markChanged });
  const rows = order.map((t) => h("tr", { dataset: { type: t } },
    h("td", {}, typePill(t)), h("td", { class: "center" }, box(t, "enabled")), h("td", { class: "center" }, box(t, "realtime"))));
  const wrap = table("user-preferences", ["Type", "Enabled", "Realtime"], rows, "No types");
  const changes = () => {
    const out = {};
    for (const row of wrap.querySelectorAll("tr[data-type]")) {
      const t = /** @type {HTMLElement} */ (row).dataset.type;
      for (const key of ["enabled", "realtime"]) {
        const checked = /** @type {HTMLInputElement} */ (row.querySelector(`input[name=${key}]`)).checked;
        if (checked !== value(t, key)) (out[t] ??= {})[key] = checked;
      }
    }
    return out;
  };
  function markChanged() {
    const diff = changes();
    for (const row of wrap.querySelectorAll("tr[data-type]")) row.classList.toggle("changed", /** @type {HTMLElement} */ (row).dataset.type in diff);
  }
  const save = async (event) => {
    const diff = changes();
    const count = Object.keys(diff).length;
    if (!count) { say("No preference changes to save"); return; }
    const result = await busy(event.currentTarget, () => api("PUT", `/admin/api/users/${id}/preferences/`, { preferences: diff }));
    if (!result || !ctx.alive()) return;
    saved = result.preferences ?? saved;
    for (const row of wrap.querySelectorAll("tr[data-type]")) {
      const t = /** @type {HTMLElement} */ (row).dataset.type;
      for (const key of ["enabled", "realtime"]) /** @type {HTMLInputElement} */ (row.querySelector(`input[name=${key}]`)).checked = value(t, key);
    }
    markChanged();
    say(`Saved ${plural(count, "type")} of user ${id}'s preferences`);
  };
  return h("div", { class: "card" },
    h("div", { class: "card-head" }, h("h2", {}, "Preferences"), h("span", { class: "spacer" }),
      h("button", { id: "save-preferences", type: "button", class: "small primary", onclick: save }, "Save changes")),
    h("p", { class: "hint" }, "Enabled: stored at all. Realtime: pushed live to open sockets."), wrap);
}

function setupGotoUser() {
  $("goto-user-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = /** @type {HTMLInputElement} */ ($("goto-user"));
    const id = input.value.trim();
    if (!isPositiveId(id)) { say("A user id is a positive whole number", "error"); return; }
    input.value = "";
    input.blur();
    go(`#/users/${id}`);
  });
}

// ---- preferences page -------------------------------------------------------------------------

async function pagePreferences(ctx) {
  const types = await getTypes();
  if (!ctx.alive()) return;
  const p = ctx.params;
  const boolSelect = (id, key) => h("select", { id, name: key },
    option("", "any", !p.get(key)), option("true", "true", p.get(key) === "true"), option("false", "false", p.get(key) === "false"));
  const form = h("form", { id: "p-filters", class: "filters card", autocomplete: "off" },
    h("div", { class: "filter-grid" },
      field("Type", h("select", { id: "p-type", name: "type" }, option("", "any", !p.get("type")),
        types.map((t) => option(t, t, p.get("type") === t)))),
      field("Enabled", boolSelect("p-enabled", "enabled")),
      field("Realtime", boolSelect("p-realtime", "realtime")),
      h("div", { class: "field end" }, h("button", { id: "p-apply", type: "submit", class: "primary" }, "Apply"))));
  const submit = (event) => {
    event?.preventDefault();
    const q = new URLSearchParams();
    for (const [id, key] of [["p-type", "type"], ["p-enabled", "enabled"], ["p-realtime", "realtime"]]) {
      const v = /** @type {HTMLSelectElement} */ ($(id)).value;
      if (v) q.set(key, v);
    }
    go(hashWith("#/preferences", q));
  };
  form.addEventListener("submit", submit);
  form.addEventListener("change", () => submit());
  const results = h("div", {}, loadingBox());
  ctx.main.append(h("section", { id: "preferences-page", class: "page" },
    h("div", { class: "page-head" }, h("h1", {}, "Preferences"),
      h("span", { class: "hint" }, "Only changed preferences are stored; every other one is on (the default).")),
    form, h("div", { class: "card flush" }, results)));

  const query = new URLSearchParams();
  for (const key of ["type", "enabled", "realtime", "after"]) { const v = p.get(key); if (v) query.set(key, v); }
  query.set("limit", String(PAGE_SIZE));
  const page = await api("GET", `/admin/api/preferences/?${query}`).catch((err) => {
    if (ctx.alive()) { fill(results, errorBox(err, route)); showError(err); }
    return null;
  });
  if (!page || !ctx.alive()) return;
  const list = page.preferences ?? [];
  const flag = (on) => h("span", { class: `badge ${on ? "on" : "off"}` }, on ? "on" : "off");
  const rows = list.map((r) => h("tr", { dataset: { href: `#/users/${r.user_id}`, type: r.notification_type } },
    h("td", { class: "num" }, userLink(r.user_id)), h("td", {}, typePill(r.notification_type)),
    h("td", {}, flag(r.enabled)), h("td", {}, flag(r.realtime))));
  const first = new URLSearchParams(p); first.delete("after");
  const next = new URLSearchParams(p);
  if (page.next_after != null) next.set("after", String(page.next_after));
  fill(results, table("preferences-table", ["User", "Type", "Enabled", "Realtime"], rows, "No stored preferences match"),
    pager([h("span", { class: "hint" }, plural(list.length, "row")),
      h("button", { id: "p-first", type: "button", disabled: !p.get("after"), onclick: () => go(hashWith("#/preferences", first)) }, "First"),
      h("button", { id: "p-next", type: "button", disabled: page.next_after == null, onclick: () => go(hashWith("#/preferences", next)) }, "Next →")]));
}

// ---- cluster page -----------------------------------------------------------------------------

async function pageCluster(ctx) {
  const summary = h("div", { class: "summary" });
  const body = h("tbody", {});
  const broker = h("span", { class: "hint" });
  const updated = h("span", { id: "cluster-updated", class: "hint" }, "loading…");
  const nodesTable = h("div", { class: "table-wrap" }, h("table", { id: "cluster-nodes", class: "grid" },
    h("thead", {}, h("tr", {}, ["Node", "State", "Sockets", "Users", "Creates/s", "Pushes/s", "p99 ms", "Checks", "Started"]
      .map((t) => h("th", { scope: "col" }, t)))), body));
  const errorLine = h("div", {});
  ctx.main.append(h("section", { id: "cluster-page", class: "page" },
    h("div", { class: "page-head" }, h("h1", {}, "Cluster"), broker, h("span", { class: "spacer" }), updated),
    summary, errorLine, h("div", { class: "card flush" }, nodesTable)));

  let timer = 0;
  let pending = false;
  let stopped = false;
  let failedBefore = false;
  const tick = async () => {
    clearTimeout(timer);
    if (stopped || pending || document.hidden) return;
    pending = true;
    try {
      const reply = await api("GET", "/admin/api/cluster/", undefined, { quiet: true });
      if (stopped || !ctx.alive()) return;
      renderCluster(reply, summary, body, broker);
      updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
      fill(errorLine);
      failedBefore = false;
    } catch (err) {
      if (stopped || !ctx.alive()) return;
      updated.textContent = `update failed at ${new Date().toLocaleTimeString()}`;
      fill(errorLine, errorBox(err));
      if (!failedBefore) showError(err); // once per outage, not every 2 s
      failedBefore = true;
    } finally {
      pending = false;
      if (!stopped && !document.hidden && ctx.alive()) timer = setTimeout(tick, CLUSTER_EVERY_MS);
    }
  };
  const onVisibility = () => { if (document.hidden) clearTimeout(timer); else tick(); };
  document.addEventListener("visibilitychange", onVisibility);
  ctx.onLeave(() => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisibility);
  });
  loading(1);
  await tick().finally(() => loading(-1));
}

function renderCluster(reply, summary, body, broker) {
  const nodes = reply?.nodes ?? [];
  const answered = nodes.filter((n) => n.answered);
  const sum = (key) => answered.reduce((a, n) => a + (Number(n[key]) || 0), 0);
  const card = (label, value, note) => h("div", { class: "metric" }, h("div", { class: "metric-label" }, label),
    h("div", { class: "metric-value" }, value), note ? h("div", { class: "hint" }, note) : null);
  fill(summary,
    card("Nodes alive", fmtNum(nodes.length), nodes.length > answered.length ? `${nodes.length - answered.length} not answering` : "all answering"),
    card("Sockets", fmtNum(sum("sockets")), `${fmtNum(sum("users"))} users`),
    card("Creates/s", fmtRate(sum("creates_per_second"))),
    card("Pushes/s", fmtRate(sum("pushes_per_second"))));
  broker.textContent = reply?.broker ? `broker: ${reply.broker}` : "";
  fill(body, ...(nodes.length ? nodes.map(nodeRow)
    : [h("tr", { class: "empty" }, h("td", { colspan: 9 }, "No nodes"))]));
}

function nodeRow(n) {
  const name = h("td", { class: "strong" }, n.node, n.this_node ? h("span", { class: "tag" }, "this node") : null);
  if (!n.answered) {
    return h("tr", { class: "dim", dataset: { node: n.node } }, name,
      h("td", {}, h("span", { class: "state down" }, "not answering")), h("td", { colspan: 7 }, ""));
  }
  const checks = Object.entries(n.checks ?? {});
  const degraded = checks.some(([, v]) => v !== "ok");
  return h("tr", { dataset: { node: n.node }, title: n.instance ? `${n.instance} · v${n.version ?? "?"}` : null }, name,
    h("td", {}, h("span", { class: `state ${degraded ? "degraded" : "ok"}` }, degraded ? "degraded" : "ok")),
    h("td", { class: "num" }, fmtNum(n.sockets)),
    h("td", { class: "num" }, fmtNum(n.users)),
    h("td", { class: "num" }, fmtRate(n.creates_per_second)),
    h("td", { class: "num" }, fmtRate(n.pushes_per_second)),
    h("td", { class: "num" }, n.delivery_p99_ms == null ? "—" : fmtRate(n.delivery_p99_ms)),
    h("td", {}, h("div", { class: "checks" }, checks.map(([name, v]) =>
      h("span", { class: `check-pill ${v === "ok" ? "good" : "bad"}`, title: `${name}: ${v}` }, name)))),
    h("td", { class: "nowrap" }, timeEl(n.started_at, true)));
}

// ---- audit page -------------------------------------------------------------------------------

async function pageAudit(ctx) {
  const p = ctx.params;
  const results = h("div", {}, loadingBox());
  ctx.main.append(h("section", { id: "audit-page", class: "page" },
    h("div", { class: "page-head" }, h("h1", {}, "Audit log"), h("span", { class: "hint" }, "Every admin action, newest first")),
    h("div", { class: "card flush" }, results)));
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (p.get("before")) query.set("before", p.get("before"));
  const page = await api("GET", `/admin/api/audit/?${query}`).catch((err) => {
    if (ctx.alive()) { fill(results, errorBox(err, route)); showError(err); }
    return null;
  });
  if (!page || !ctx.alive()) return;
  const list = page.records ?? [];
  const targets = (ids) => {
    if (!Array.isArray(ids) || !ids.length) return "—";
    const links = ids.slice(0, 8).map((id) => [notificationLink(id), " "]);
    return [links, ids.length > 8 ? h("span", { class: "muted" }, `+${ids.length - 8} more`) : null];
  };
  const rows = list.map((r) => h("tr", { dataset: { id: r.id } },
    h("td", { class: "num" }, String(r.id)),
    h("td", { class: "nowrap" }, timeEl(r.created_at)),
    h("td", { class: "num" }, userLink(r.actor_id)),
    h("td", {}, h("code", {}, r.action)),
    h("td", { class: "num" }, userLink(r.target_user_id)),
    h("td", {}, targets(r.target_ids)),
    h("td", { class: "detail-cell" }, h("code", { title: JSON.stringify(r.detail ?? {}, null, 2) }, JSON.stringify(r.detail ?? {})))));
  const next = new URLSearchParams(p);
  if (page.next_before != null) next.set("before", String(page.next_before));
  fill(results, table("audit-table", ["ID", "Time", "Actor", "Action", "Target user", "Target ids", "Detail"], rows, "No audit records"),
    pager([h("span", { class: "hint" }, plural(list.length, "record")),
      h("button", { id: "audit-first", type: "button", disabled: !p.get("before"), onclick: () => go("#/audit") }, "Newest"),
      h("button", { id: "audit-next", type: "button", disabled: page.next_before == null, onclick: () => go(hashWith("#/audit", next)) }, "Older →")]));
}

// ---- send page --------------------------------------------------------------------------------

/** The data textarea: empty → undefined, a JSON object → it, anything else → throws. */
function parseData(text) {
  if (!text.trim()) return undefined;
  let value;
  try { value = JSON.parse(text); } catch (err) { throw new InputError(`Data is not valid JSON: ${err.message}`); }
  if (!value || typeof value !== "object" || Array.isArray(value)) throw new InputError("Data must be a JSON object ({…})");
  return value;
}

/** User ids separated by commas, spaces or newlines; throws naming the bad ones. */
function parseUserIds(text) {
  const parts = text.split(/[\s,;]+/).filter(Boolean);
  const bad = parts.filter((s) => !isPositiveId(s));
  if (bad.length) throw new InputError(`Not user ids: ${bad.slice(0, 5).join(", ")}${bad.length > 5 ? "…" : ""}`);
  if (!parts.length) throw new InputError("Give at least one user id");
  return [...new Set(parts.map(Number))];
}

/** The content fields shared by both forms (prefix c or b). */
function contentFields(prefix, types) {
  return [
    field("Type", h("select", { id: `${prefix}-type`, required: true }, types.map((t) => option(t, t, t === "general")))),
    field("Title", h("input", { id: `${prefix}-title`, type: "text", required: true, maxlength: 200 })),
    field("Message", h("textarea", { id: `${prefix}-message`, rows: 3, maxlength: 5000 })),
    field("Link", h("input", { id: `${prefix}-link`, type: "url", placeholder: "https://…", maxlength: 2048 }), "Optional, http(s) only"),
    field("Data", h("textarea", { id: `${prefix}-data`, rows: 4, class: "mono", spellcheck: "false", placeholder: '{"task_id": 123}' }), "Optional JSON object"),
  ];
}

function readContent(prefix) {
  const v = (name) => /** @type {HTMLInputElement} */ ($(`${prefix}-${name}`)).value;
  const body = { type: v("type"), title: v("title").trim(), message: v("message") };
  const link = v("link").trim();
  if (link) body.link = link;
  const data = parseData(v("data"));
  if (data) body.data = data;
  return body;
}

async function pageSend(ctx) {
  const types = await getTypes();
  if (!ctx.alive()) return;
  const createResult = h("div", { id: "c-result", class: "result", "aria-live": "polite" });
  const previewResult = h("div", { id: "b-preview-result", class: "result", "aria-live": "polite" });
  const broadcastResult = h("div", { id: "b-result", class: "result", "aria-live": "polite" });
  const create = h("form", { id: "create-form", class: "card stack", autocomplete: "off" },
    h("h2", {}, "Create one"),
    field("User id", h("input", { id: "c-user", type: "text", inputmode: "numeric", pattern: "[1-9][0-9]*", required: true })),
    contentFields("c", types),
    h("div", { class: "actions" }, h("button", { id: "c-submit", type: "submit", class: "primary" }, "Create")), createResult);
  const broadcast = h("form", { id: "broadcast-form", class: "card stack", autocomplete: "off" },
    h("h2", {}, "Broadcast"),
    field("User ids", h("textarea", { id: "b-users", rows: 3, required: true, class: "mono", placeholder: "1, 2, 3" }),
      "Separated by commas, spaces or new lines"),
    contentFields("b", types),
    h("div", { class: "actions" },
      h("button", { id: "b-preview", type: "button" }, "Preview"),
      h("button", { id: "b-send", type: "submit", class: "danger" }, "Send broadcast…")),
    previewResult, broadcastResult);
  ctx.main.append(h("section", { id: "send-page", class: "page" },
    h("div", { class: "page-head" }, h("h1", {}, "Send")), h("div", { class: "two-col" }, create, broadcast)));

  create.addEventListener("submit", (event) => {
    event.preventDefault();
    fill(createResult);
    busy($("c-submit"), async () => {
      const user = /** @type {HTMLInputElement} */ ($("c-user")).value.trim();
      if (!isPositiveId(user)) throw new InputError("User id must be a positive whole number");
      const body = { user_id: Number(user), ...readContent("c") };
      const result = await api("POST", "/auth/notifications/create/", body);
      if (result?.suppressed) {
        fill(createResult, h("p", { class: "warning" }, `Suppressed by user ${user}'s preferences: nothing stored.`));
        say("Suppressed by preferences", "warn");
      } else {
        const id = result?.notification?.id;
        fill(createResult, h("p", { class: "success" }, "Created ", notificationLink(id), ` for user ${user}.`));
        say(["Created notification ", notificationLink(id)]);
      }
    });
  });

  const preview = async () => {
    const ids = parseUserIds(/** @type {HTMLTextAreaElement} */ ($("b-users")).value);
    const type = /** @type {HTMLSelectElement} */ ($("b-type")).value;
    const r = await api("POST", "/admin/api/broadcast/preview/", { user_ids: ids, notification_type: type });
    const figures = `reaches ${plural(r.recipients, "user")}: ${fmtNum(r.delivered_live)} live, ${fmtNum(r.stored_only)} stored only, `
      + `${fmtNum(r.suppressed?.length ?? 0)} suppressed by preferences, ${fmtNum(r.inbox_full?.length ?? 0)} inbox full`;
    const details = [];
    if (r.suppressed?.length) details.push(`suppressed: ${r.suppressed.slice(0, 20).join(", ")}${r.suppressed.length > 20 ? "…" : ""}`);
    if (r.inbox_full?.length) details.push(`inbox full: ${r.inbox_full.slice(0, 20).join(", ")}${r.inbox_full.length > 20 ? "…" : ""}`);
    fill(previewResult, h("p", {}, h("strong", {}, "Preview: "), figures),
      details.length ? h("p", { class: "hint" }, details.join(" · ")) : null);
    return { ids, figures };
  };
  $("b-preview").addEventListener("click", (event) => busy(/** @type {HTMLButtonElement} */ (event.currentTarget), async () => {
    fill(broadcastResult);
    await preview();
  }));

  broadcast.addEventListener("submit", (event) => {
    event.preventDefault();
    fill(broadcastResult);
    busy($("b-send"), async () => {
      const content = readContent("b"); // validates data before anything is asked
      const { ids, figures } = await preview();
      const ok = await confirmAction(`Broadcast “${content.title}” (${content.type}) to ${plural(ids.length, "user")}? It ${figures}.`, "Send broadcast");
      if (!ok) return;
      const r = await api("POST", "/auth/notifications/broadcast/", { user_ids: ids, ...content });
      const created = r?.created ?? 0;
      const firstIds = (r?.notification_ids ?? []).slice(0, 10);
      fill(broadcastResult, h("p", { class: "success" },
        `Created ${plural(created, "notification")}, ${fmtNum(r?.suppressed ?? 0)} suppressed, ${fmtNum(r?.inbox_full?.length ?? 0)} inbox full.`),
      firstIds.length ? h("p", { class: "hint" }, firstIds.map((id) => [notificationLink(id), " "]),
        (r?.notification_ids?.length ?? 0) > 10 ? "…" : "") : null);
      say(`Broadcast sent: ${plural(created, "notification")} created`);
    });
  });
}

// ---- start ------------------------------------------------------------------------------------

function start() {
  setupDialog();
  $("status-close").addEventListener("click", clearStatus);
  setupGotoUser();
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", () => { if (getToken()) route(); });
  getTypes();
  if (getToken()) showApp();
  else showSignIn();
}

start();
