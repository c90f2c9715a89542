// HeraldClient over the WebSocket against the live node run.sh started (real sockets): live
// pushes, every action's round trip checked against REST, resuming with `since` after the server
// closed the socket, token refresh (refresh_token before exp, and a new token after 4001), an
// administrator's disconnect, and where the server is named.

import { test } from "node:test";
import assert from "node:assert/strict";
import { HeraldClient, endpointsOf } from "../herald.js";
import {
  BASE_URL, LEEWAY_SECONDS, countsOf, createFor, freshUser, idsOf, listOf, next, recorder, rest, sleep,
  staffToken, until, userToken,
} from "./support/herald.mjs";

// A client of `userId` on the WebSocket, connected and greeted.
async function connected(userId, options = {}) {
  const client = new HeraldClient({ baseUrl: BASE_URL, token: userToken(userId), transport: "websocket", ...options });
  const open = next(client, "state", (state) => state === "open");
  client.connect();
  await open;
  return client;
}

test("the server is an option: baseUrl, url, or a clear error without either", () => {
  assert.deepEqual(endpointsOf({ baseUrl: "https://herald.example.com" }), {
    base: "https://herald.example.com",
    ws: "wss://herald.example.com/ws/notifications/",
    sse: "https://herald.example.com/sse/notifications/",
  });
  assert.equal(endpointsOf({ baseUrl: "http://127.0.0.1:8000/herald/" }).sse, "http://127.0.0.1:8000/herald/sse/notifications/");
  assert.equal(endpointsOf({ url: "wss://h.example.com/ws/notifications/" }).base, "https://h.example.com");
  assert.equal(typeof globalThis.location, "undefined", "Node has no page location");
  assert.throws(() => new HeraldClient({ token: "t" }), /no server: pass baseUrl/);
  assert.throws(() => new HeraldClient({ baseUrl: BASE_URL, transport: "carrier-pigeon" }), /transport must be one of/);
});

test("connects and gets a notification created over REST, live, with the counts", async () => {
  const user = freshUser();
  const client = await connected(user);
  try {
    assert.equal(client.transport, "websocket");
    assert.equal(client.unread, 0);
    const pushed = next(client, "notification");
    const counted = next(client, "unread_count", (count) => count === 1);
    const created = await createFor(user, "Hello over REST", { data: { task: 1 } });
    const [notification] = await pushed;
    assert.equal(notification.id, created.id);
    assert.equal(notification.title, "Hello over REST");
    assert.deepEqual(notification.data, { task: 1 });
    await counted;
    assert.equal(client.unseen, 1);
  } finally {
    client.close();
  }
});

test("every action round-trips over the WebSocket and changes the server's state", async () => {
  const user = freshUser();
  const client = await connected(user);
  // A second tab of the same user sees each change pushed.
  const other = await connected(user);
  const pushes = recorder(other, ["read", "unread", "updated", "deleted", "all_read", "notification"]);
  try {
    const made = [];
    for (const title of ["a", "b", "c", "d"]) made.push(await createFor(user, title));
    const approval = await createFor(user, "an approval", { type: "approval", data: { project: 42, tag: "x" } });
    const ids = made.map((n) => n.id);
    const [idA, idB, idC, idD] = ids;
    await until("the other tab got every create", () => pushes.of("notification").length === 5);
    const byId = async (id, query = "") => (await listOf(user, query)).notifications.find((n) => n.id === id);

    let reply = await client.markRead(idA);
    assert.equal(reply.type, "notification_read");
    assert.equal(reply.notification_id, idA);
    assert.equal(reply.unread_count, 4);
    assert.equal((await byId(idA)).is_read, true);

    reply = await client.markUnread(idA);
    assert.equal(reply.type, "notification_unread");
    assert.equal((await byId(idA)).is_read, false);

    reply = await client.markSeen(idB);
    assert.deepEqual([reply.type, reply.action, reply.ids, reply.changed], ["notifications_updated", "seen", [idB], 1]);
    assert.ok((await byId(idB)).seen_at, "seen on the server");

    reply = await client.archive(idC);
    assert.deepEqual([reply.action, reply.ids], ["archive", [idC]]);
    assert.deepEqual(idsOf(await listOf(user, "archived=true")), [idC]);
    assert.ok(!idsOf(await listOf(user)).includes(idC), "out of the default list");

    reply = await client.unarchive(idC);
    assert.equal(reply.action, "unarchive");
    assert.deepEqual(idsOf(await listOf(user, "archived=true")), []);
    assert.ok(idsOf(await listOf(user)).includes(idC));

    const until1h = new Date(Date.now() + 3600e3);
    reply = await client.snooze(idD, until1h);
    assert.equal(reply.action, "snooze");
    assert.ok(reply.snooze_until, "the reply repeats snooze_until");
    const snoozed = await listOf(user, "snoozed=true");
    assert.deepEqual(idsOf(snoozed), [idD]);
    assert.equal(Date.parse(snoozed.notifications[0].snoozed_until), until1h.getTime());
    await client.markUnread(idD); // back from its snooze
    assert.deepEqual(idsOf(await listOf(user, "snoozed=true")), []);

    reply = await client.markAllSeen();
    assert.equal(reply.action, "seen");
    assert.equal((await countsOf(user)).unseen_count, 0);
    assert.equal(client.unseen, 0);

    reply = await client.bulk("read", { ids: [idA, idB] });
    assert.deepEqual([reply.action, reply.changed], ["read", 2]);
    assert.ok((await byId(idA)).is_read && (await byId(idB)).is_read);

    // Read in the default list: a and b, and c (archiving read it; unarchive kept it read).
    reply = await client.archiveAllRead();
    assert.deepEqual([reply.action, reply.changed], ["archive", 3]);
    assert.deepEqual(idsOf(await listOf(user, "archived=true")), [idC, idB, idA]);

    reply = await client.bulk("unarchive", { filter: { archived: true } });
    assert.equal(reply.changed, 3);
    assert.deepEqual(idsOf(await listOf(user, "archived=true")), []);

    reply = await client.bulk("snooze", { ids: [idC] }, new Date(Date.now() + 7200e3));
    assert.deepEqual([reply.action, reply.changed], ["snooze", 1]);
    assert.deepEqual(idsOf(await listOf(user, "snoozed=true")), [idC]);

    reply = await client.markAllRead();
    assert.equal(reply.type, "all_read");
    assert.equal(reply.unread_count, 0);
    assert.equal((await countsOf(user)).unread_count, 0);

    reply = await client.deleteNotification(idA);
    assert.deepEqual([reply.type, reply.notification_id], ["notification_deleted", idA]);
    assert.ok(!idsOf(await listOf(user, "read=true")).includes(idA));
    assert.equal((await rest("DELETE", `/auth/notifications/${idA}/delete/`, userToken(user))).status, 404);

    await listFilters(client, user, { ids, approval });
    await preferences(client, user);

    reply = await client.unreadCount();
    assert.deepEqual([reply.unread_count, reply.unseen_count], [(await countsOf(user)).unread_count, (await countsOf(user)).unseen_count]);

    assert.equal((await client.ping()).type, "pong");

    const mine = next(client, "notification", (n) => n.title === "sent to myself");
    reply = await client.send({ title: "sent to myself", message: "over the socket", idempotency_key: `k-${user}` });
    assert.equal(reply.type, "notification_sent");
    const [ownNotification] = await mine;
    assert.equal(ownNotification.id, reply.notification.id);
    assert.ok(idsOf(await listOf(user)).includes(reply.notification.id));
    const again = await client.send({ title: "sent to myself", message: "over the socket", idempotency_key: `k-${user}` });
    assert.equal(again.notification.id, reply.notification.id, "the idempotency key answers the first reply again");

    const replayed = recorder(client, ["notification"]);
    reply = await client.sync(idD);
    assert.equal(reply.type, "sync_complete");
    assert.ok(replayed.of("notification").every(([n]) => n.id > idD));

    const fresh = userToken(user, 7200);
    reply = await client.refreshToken(fresh);
    assert.equal(reply.type, "token_refreshed");
    assert.equal(client.token, fresh);

    // The second tab was told of every change: read, unread, each state action, all read, delete.
    await until("the other tab's pushes", () => pushes.of("deleted").length === 1);
    assert.ok(pushes.of("read").some(([id]) => id === idA));
    assert.ok(pushes.of("unread").some(([id]) => id === idA));
    const actions = pushes.of("updated").map(([u]) => u.action);
    for (const action of ["seen", "archive", "unarchive", "snooze", "read"]) assert.ok(actions.includes(action), `${action} pushed: ${actions}`);
    assert.equal(pushes.of("all_read").length, 1);
    const { unread_count: serverCount } = await countsOf(user);
    await until("both tabs agree with the server's count", () => other.unread === serverCount && client.unread === serverCount);
  } finally {
    client.close();
    other.close();
  }
});

// getNotifications with every list filter, compared with REST's answer to the same filter.
async function listFilters(client, user, { ids, approval }) {
  const same = async (filter, query, what) => {
    const reply = await client.getNotifications(filter);
    assert.equal(reply.type, "notifications", what);
    assert.deepEqual(idsOf(reply), idsOf(await listOf(user, query)), what);
    return reply;
  };
  const page = await same({ limit: 2 }, "limit=2", "limit");
  assert.equal(page.notifications.length, 2);
  assert.ok(page.next_before, "a next page");
  await same({ before: page.next_before }, `before=${page.next_before}`, "before");
  assert.deepEqual(idsOf(await same({ types: ["approval"] }, "type=approval", "types")), [approval.id]);
  assert.deepEqual(idsOf(await same({ type: "approval" }, "type=approval", "type")), [approval.id]);
  assert.deepEqual(idsOf(await same({ types: ["approval", "meeting"] }, "type=approval,meeting", "types")), [approval.id]);
  assert.deepEqual(idsOf(await same({ data: { project: 42 } }, `data=${encodeURIComponent('{"project":42}')}`, "data")), [approval.id]);
  await same({ read: true }, "read=true", "read");
  await same({ unread: true }, "unread=true", "unread");
  await same({ seen: true }, "seen=true", "seen");
  await same({ archived: true }, "archived=true", "archived");
  assert.deepEqual(idsOf(await same({ snoozed: true }, "snoozed=true", "snoozed")), [ids[2]]);
  const after = new Date(Date.parse(approval.created_at) - 1);
  const since = await same({ created_after: after }, `created_after=${encodeURIComponent(after.toISOString())}`, "created_after");
  assert.ok(idsOf(since).includes(approval.id));
  const before = new Date(Date.parse(approval.created_at));
  const older = await same({ created_before: before }, `created_before=${encodeURIComponent(before.toISOString())}`, "created_before");
  assert.ok(!idsOf(older).includes(approval.id));
  await assert.rejects(client.getNotifications({ read: true, unread: true }), (err) => err.frame?.code === "validation_error");
}

async function preferences(client, user) {
  let reply = await client.getPreferences();
  assert.equal(reply.type, "preferences");
  assert.deepEqual(reply.preferences.meeting, { enabled: true, realtime: true });
  reply = await client.updatePreferences({ preferences: { meeting: { realtime: false } } });
  assert.equal(reply.preferences.meeting.realtime, false);
  const stored = await rest("GET", "/auth/notifications/preferences/", userToken(user));
  assert.deepEqual(stored.body.preferences.meeting, { enabled: true, realtime: false });
}

test("after the server closes the socket it resumes with since: nothing missed, nothing twice", async () => {
  const user = freshUser();
  const client = await connected(user, { backoff: { initialMs: 800, maxMs: 1000 } });
  const seen = recorder(client, ["notification", "connecting", "resync", "state"]);
  try {
    const first = await createFor(user, "before");
    await until("the first push", () => seen.of("notification").length === 1);
    // A frame over 64 KiB: the server closes the socket (1009) and the client comes back.
    const away = next(client, "state", (state) => state === "reconnecting");
    client.ws.send(JSON.stringify({ type: "ping", pad: "x".repeat(70 * 1024) }));
    await away;
    const meanwhile = [await createFor(user, "while away 1"), await createFor(user, "while away 2")];
    await next(client, "state", (state) => state === "open");
    const after = await createFor(user, "after");
    const expected = [first, ...meanwhile, after].map((n) => n.id);
    await until("every notification", () => seen.of("notification").length >= expected.length);
    await sleep(300);
    assert.deepEqual(seen.of("notification").map(([n]) => n.id), expected, "each once, in order");
    const urls = seen.of("connecting").map(([url]) => url);
    assert.ok(urls[0].includes(`since=${first.id}`), `resumed after the last id seen: ${urls}`);
    assert.ok(!urls.some((url) => /token=ey/.test(url)), "the token is elided from the connecting event");
    await until("resync after the replay", () => seen.of("resync").length === 1);
    assert.equal(client.unread, 4);
    assert.equal((await countsOf(user)).unread_count, 4);
  } finally {
    client.close();
  }
});

test("token refresh: refresh_token before exp keeps the socket past the old token's expiry", async () => {
  const user = freshUser();
  let calls = 0;
  const getToken = async () => {
    calls += 1;
    return userToken(user, 3600);
  };
  const client = await connected(user, { token: userToken(user, 3), getToken, refreshBeforeSeconds: 2 });
  const seen = recorder(client, ["connecting", "state", "frame"]);
  try {
    await until("the refresh", () => seen.of("frame").some(([f]) => f.type === "token_refreshed"), 8000);
    assert.equal(calls, 1);
    // Past the first token's exp and the server's leeway: still the same socket.
    await sleep((3 + LEEWAY_SECONDS) * 1000 + 500);
    assert.equal(client.state, "open");
    assert.deepEqual(seen.of("connecting"), [], "no reconnect");
    const pushed = next(client, "notification");
    const created = await createFor(user, "after the old token expired");
    assert.equal((await pushed)[0].id, created.id);
  } finally {
    client.close();
  }
});

test("token refresh: after a 4001 close it gets a new token from getToken and resumes", async () => {
  const user = freshUser();
  let meanwhile = null;
  const getToken = async () => {
    // Created while the socket is down: it must come with the resumed connection.
    meanwhile ??= await createFor(user, "created while the token was renewed");
    return userToken(user, 3600);
  };
  // refreshBeforeSeconds < 0: no refresh_token before exp, so the server closes with 4001.
  const client = await connected(user, { token: userToken(user, 2), getToken, refreshBeforeSeconds: -600 });
  const seen = recorder(client, ["notification", "connecting", "state"]);
  try {
    await next(client, "state", (state) => state === "reconnecting", (2 + LEEWAY_SECONDS + 5) * 1000);
    await next(client, "state", (state) => state === "open");
    await until("the notification created meanwhile", () => seen.of("notification").length === 1);
    assert.equal(seen.of("notification")[0][0].id, meanwhile.id);
    assert.ok(seen.of("connecting")[0][0].includes("since="), "resumed with since");
    assert.notEqual(client.token, null);
    assert.ok(client.secondsLeft() > 3000, "the fresh token");
  } finally {
    client.close();
  }
});

test("an administrator's disconnect (4003) closes it for good", async () => {
  const user = freshUser();
  const client = await connected(user);
  const errors = recorder(client, ["error"]);
  try {
    const closed = next(client, "state", (state) => state === "closed");
    const { status } = await rest("POST", `/admin/api/users/${user}/disconnect/`, staffToken());
    assert.equal(status, 200);
    await closed;
    assert.match(String(errors.of("error")[0][0].message), /4003/);
    await sleep(1000);
    assert.equal(client.state, "closed", "no reconnect");
  } finally {
    client.close();
  }
});

test("auto keeps to a WebSocket that opened once: later failures retry it, no fallback", async () => {
  const user = freshUser();
  let refuse = false;
  // The real WebSocket, unless `refuse`: then one that fails to open.
  class Flaky extends WebSocket {
    constructor(url) {
      super(refuse ? url.replace(/\/ws\/notifications\//, "/nowhere/") : url);
    }
  }
  const client = new HeraldClient({ baseUrl: BASE_URL, token: userToken(user), WebSocket: Flaky, EventSource: class {}, backoff: { initialMs: 100, maxMs: 200 } });
  const seen = recorder(client, ["transport", "connecting", "state"]);
  try {
    client.connect();
    await next(client, "state", (state) => state === "open");
    refuse = true;
    client.ws.send(JSON.stringify({ type: "ping", pad: "x".repeat(70 * 1024) })); // closed by the server
    await until("three failed attempts", () => seen.of("connecting").length >= 4, 10000);
    refuse = false;
    await next(client, "state", (state) => state === "open");
    assert.deepEqual(seen.of("transport"), [["websocket"]]);
  } finally {
    client.close();
  }
});
