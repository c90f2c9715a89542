// HeraldClient on the SSE transport against the live node run.sh started: pushes from
// GET /sse/notifications/, every action over REST with the bearer token (checked against REST),
// "auto" falling back to SSE when the WebSocket cannot open, a new stream after `close` 4001 with
// ?last_event_id=, and the EventSource's own reconnect with Last-Event-ID. Node 20 has no
// EventSource: support/event-source.mjs stands in for it (the browser test drives the real one).

import { test } from "node:test";
import assert from "node:assert/strict";
import { HeraldClient } from "../herald.js";
import { TestEventSource } from "./support/event-source.mjs";
import { BASE_URL, LEEWAY_SECONDS, countsOf, createFor, freshUser, idsOf, listOf, next, recorder, rest, sleep, staffToken, until, userToken } from "./support/herald.mjs";

// A WebSocket that never opens: an error, then close 1006, as a blocked upgrade does.
class RefusedWebSocket {
  static made = 0;
  constructor(url) {
    RefusedWebSocket.made += 1;
    this.url = url;
    this.readyState = 0;
    setTimeout(() => {
      this.readyState = 3;
      this.onerror?.({ type: "error" });
      this.onclose?.({ code: 1006, reason: "" });
    }, 10);
  }
  send() {
    throw new Error("not open");
  }
  close() {}
}

// fetch, recording each call's method, URL and Authorization header.
function recordingFetch() {
  const calls = [];
  const fetchImpl = (url, init = {}) => {
    calls.push({ url: String(url), method: init.method || "GET", authorization: init.headers?.Authorization });
    return fetch(url, init);
  };
  return { calls, fetchImpl };
}

// A client of `userId` on SSE, greeted.
async function onSse(userId, options = {}) {
  const client = new HeraldClient({ baseUrl: BASE_URL, token: userToken(userId), transport: "sse", EventSource: TestEventSource, ...options });
  const open = next(client, "state", (state) => state === "open");
  client.connect();
  await open;
  return client;
}

test("transport sse: pushes arrive from the stream and every action goes over REST", async () => {
  const user = freshUser();
  const { calls, fetchImpl } = recordingFetch();
  const client = await onSse(user, { fetch: fetchImpl, WebSocket: RefusedWebSocket });
  const seen = recorder(client, ["notification", "read", "unread", "updated", "deleted", "all_read", "preferences"]);
  try {
    assert.equal(client.transport, "sse");
    assert.equal(RefusedWebSocket.made, 0, "no WebSocket on transport sse");
    assert.match(client.es.url, /\/sse\/notifications\/\?token=/);
    const made = [];
    for (const title of ["one", "two", "three"]) made.push(await createFor(user, title, { data: { n: title } }));
    const [one, two, three] = made.map((n) => n.id);
    await until("three pushes", () => seen.of("notification").length === 3);
    assert.deepEqual(seen.of("notification").map(([n]) => n.id), [one, two, three]);
    await until("the counts", () => client.unread === 3 && client.unseen === 3);

    let reply = await client.markRead(one);
    assert.deepEqual([reply.type, reply.notification_id, reply.unread_count], ["notification_read", one, 2]);
    await until("the read event, from the stream", () => seen.of("read").some(([id]) => id === one));
    reply = await client.markUnread(one);
    assert.equal(reply.type, "notification_unread");
    await until("the unread event", () => seen.of("unread").some(([id]) => id === one));
    reply = await client.markSeen(two);
    assert.deepEqual([reply.type, reply.action, reply.ids, reply.changed], ["notifications_updated", "seen", [two], 1]);
    reply = await client.archive(three);
    assert.deepEqual([reply.action, reply.ids], ["archive", [three]]);
    assert.deepEqual(idsOf(await listOf(user, "archived=true")), [three]);
    reply = await client.unarchive(three);
    assert.equal(reply.action, "unarchive");
    reply = await client.snooze(three, new Date(Date.now() + 3600e3));
    assert.equal(reply.action, "snooze");
    assert.deepEqual(idsOf(await listOf(user, "snoozed=true")), [three]);
    reply = await client.bulk("unread", { ids: [three] });
    assert.deepEqual([reply.type, reply.action, reply.changed], ["notifications_updated", "unread", 1]);
    await until("an updated event per state action", () => seen.of("updated").length === 5);
    assert.deepEqual(seen.of("updated").map(([u]) => u.action), ["seen", "archive", "unarchive", "snooze", "unread"]);
    assert.deepEqual(seen.of("updated")[1][0].ids, [three], "the stream names the ids");

    reply = await client.getNotifications({ types: ["general"], data: { n: "two" }, limit: 10 });
    assert.deepEqual([reply.type, idsOf(reply)], ["notifications", [two]]);
    reply = await client.getNotifications({ unread: true });
    assert.deepEqual(idsOf(reply), [three, two, one]);
    await assert.rejects(client.getNotifications({ read: true, unread: true }), (err) => {
      assert.equal(err.frame.code, "validation_error");
      assert.equal(err.frame.status, 400);
      return true;
    });

    reply = await client.markAllSeen();
    assert.equal(reply.action, "seen");
    assert.equal((await countsOf(user)).unseen_count, 0);
    reply = await client.archiveAllRead();
    assert.equal(reply.changed, 0, "nothing read in the default list");
    reply = await client.markAllRead();
    assert.deepEqual([reply.type, reply.marked, reply.unread_count], ["all_read", 3, 0]);
    await until("all_read from the stream", () => seen.of("all_read").length === 1);
    reply = await client.deleteNotification(one);
    assert.deepEqual([reply.type, reply.notification_id], ["notification_deleted", one]);
    await until("the deleted event", () => seen.of("deleted").some(([id]) => id === one));
    assert.ok(!idsOf(await listOf(user, "read=true")).includes(one));

    reply = await client.getPreferences();
    assert.equal(reply.type, "preferences");
    reply = await client.updatePreferences({ preferences: { approval: { enabled: false } } });
    assert.equal(reply.preferences.approval.enabled, false);
    assert.equal((await rest("GET", "/auth/notifications/preferences/", userToken(user))).body.preferences.approval.enabled, false);

    reply = await client.unreadCount();
    assert.deepEqual(reply, { type: "unread_count", ...(await countsOf(user)) });
    assert.deepEqual(await client.ping(), { type: "pong" });

    reply = await client.send({ title: "to myself over REST", idempotency_key: `sse-${user}` });
    assert.equal(reply.type, "notification_sent");
    await until("my own notification, from the stream", () => seen.of("notification").some(([n]) => n.id === reply.notification.id));
    const again = await client.send({ title: "to myself over REST", idempotency_key: `sse-${user}` });
    assert.equal(again.notification.id, reply.notification.id, "Idempotency-Key sent");

    await assert.rejects(client.sync(0), /not available on the SSE transport/);
    const rests = calls.filter((c) => c.url.includes("/auth/notifications/") || c.url.endsWith("/healthz"));
    assert.ok(rests.length >= 20, `${rests.length} REST calls`);
    for (const call of rests) assert.match(call.authorization, /^Bearer ey/, `${call.method} ${call.url}`);
  } finally {
    client.close();
  }
});

test("auto falls back to SSE when the WebSocket cannot open, and works there", async () => {
  const user = freshUser();
  RefusedWebSocket.made = 0;
  const client = new HeraldClient({
    baseUrl: BASE_URL, token: userToken(user), WebSocket: RefusedWebSocket, EventSource: TestEventSource,
    backoff: { initialMs: 50, maxMs: 100 },
  });
  const seen = recorder(client, ["transport", "connecting", "notification", "state"]);
  try {
    client.connect();
    await next(client, "state", (state) => state === "open");
    assert.equal(RefusedWebSocket.made, 2, "fallbackAfter: 2 by default");
    assert.deepEqual(seen.of("transport"), [["websocket"], ["sse"]]);
    assert.equal(client.transport, "sse");
    const urls = seen.of("connecting").map(([url]) => url);
    assert.equal(urls.length, 3);
    assert.match(urls[0], /^ws:\/\/.*\/ws\/notifications\/\?token=…$/);
    assert.match(urls[2], /^http:\/\/.*\/sse\/notifications\/\?token=…$/);
    const created = await createFor(user, "through the fallback");
    await until("the push", () => seen.of("notification").some(([n]) => n.id === created.id));
    await client.markRead(created.id);
    assert.equal((await listOf(user)).notifications[0].is_read, true);
  } finally {
    client.close();
  }
});

test("auto goes straight to SSE where there is no WebSocket", async () => {
  const user = freshUser();
  const client = new HeraldClient({ baseUrl: BASE_URL, token: userToken(user), WebSocket: null, EventSource: TestEventSource });
  try {
    const transports = recorder(client, ["transport"]);
    client.connect();
    await next(client, "state", (state) => state === "open");
    assert.deepEqual(transports.of("transport"), [["sse"]]);
  } finally {
    client.close();
  }
});

test("sse: after close 4001 it opens a new stream with a fresh token and ?last_event_id=", async () => {
  const user = freshUser();
  let meanwhile = null;
  const getToken = async () => {
    meanwhile ??= await createFor(user, "created while the stream was down");
    return userToken(user, 3600);
  };
  const client = await onSse(user, { token: userToken(user, 2), getToken, refreshBeforeSeconds: -600 });
  const seen = recorder(client, ["notification", "connecting", "state", "error"]);
  try {
    const first = await createFor(user, "on the first stream");
    await until("the first push", () => seen.of("notification").length === 1);
    const firstEventId = client.lastEventId;
    assert.ok(firstEventId, "the push carried an event id");
    await next(client, "state", (state) => state === "reconnecting", (2 + LEEWAY_SECONDS + 5) * 1000);
    await next(client, "state", (state) => state === "open");
    await until("the notification created meanwhile", () => seen.of("notification").length === 2);
    assert.deepEqual(seen.of("notification").map(([n]) => n.id), [first.id, meanwhile.id]);
    const url = new URL(client.es.url);
    assert.equal(url.searchParams.get("last_event_id"), firstEventId);
    assert.ok(client.secondsLeft() > 3000, "the stream runs on the fresh token");
    assert.deepEqual(seen.of("error"), [], "4001 is no error");
  } finally {
    client.close();
  }
});

test("sse: the EventSource's own reconnect sends Last-Event-ID and misses nothing", async () => {
  const user = freshUser();
  let beforeReconnect = null;
  // The stand-in, with a pause before its reconnect for the test to change things meanwhile.
  class Paused extends TestEventSource {
    async connect() {
      if (this.requests.length > 0 && beforeReconnect) await beforeReconnect();
      return super.connect();
    }
  }
  const client = await onSse(user, { EventSource: Paused });
  const seen = recorder(client, ["notification", "read", "resync", "state"]);
  try {
    const first = await createFor(user, "before the drop");
    const second = await createFor(user, "before the drop, read during it");
    await until("the first pushes", () => seen.of("notification").length === 2);
    let meanwhile = null;
    beforeReconnect = async () => {
      beforeReconnect = null;
      meanwhile = await createFor(user, "during the drop");
      assert.equal((await rest("POST", `/auth/notifications/${second.id}/read/`, userToken(user))).status, 200);
    };
    client.es.drop();
    await next(client, "state", (state) => state === "reconnecting");
    await next(client, "state", (state) => state === "open");
    const after = await createFor(user, "after the drop");
    await until("four notifications", () => seen.of("notification").length >= 4);
    await sleep(300);
    assert.deepEqual(seen.of("notification").map(([n]) => n.id), [first.id, second.id, meanwhile.id, after.id], "each once, in order");
    assert.equal(client.es.requests.length, 2, "one automatic reconnect, by the EventSource itself");
    assert.ok(client.es.requests[1]["Last-Event-ID"], "Last-Event-ID sent on the reconnect");
    // The read made while away cannot be replayed one by one: the server says resync.
    await until("resync from the server", () => seen.of("resync").length === 1);
    await until("the counts", () => client.unread === 3 && client.unseen === 3);
    assert.deepEqual(await countsOf(user), { unread_count: 3, unseen_count: 3 });
  } finally {
    client.close();
  }
});

test("sse: a stream resumed with nothing to resume from tells the app to fetch its list again", async () => {
  const user = freshUser();
  const client = await onSse(user);
  const seen = recorder(client, ["resync", "state"]);
  try {
    assert.equal(client.lastEventId, null, "only the greeting so far, which has no id");
    client.es.drop();
    await next(client, "state", (state) => state === "open");
    assert.equal(seen.of("resync").length, 1);
  } finally {
    client.close();
  }
});

test("sse: an administrator's disconnect (close 4003) ends it for good", async () => {
  const user = freshUser();
  const client = await onSse(user);
  const errors = recorder(client, ["error"]);
  try {
    const closed = next(client, "state", (state) => state === "closed");
    assert.equal((await rest("POST", `/admin/api/users/${user}/disconnect/`, staffToken())).status, 200);
    await closed;
    assert.match(String(errors.of("error")[0][0].message), /4003/);
    await sleep(1000);
    assert.equal(client.state, "closed");
    assert.equal(client.es, null);
  } finally {
    client.close();
  }
});
