// What the tests share: the live node run.sh started (HERALD_URL) and its secret
// (HERALD_JWT_SECRET), HS256 tokens minted with node:crypto (README, "Authentication"), REST
// calls as another service would make them, fresh user ids, and waiting for conditions.

import { createHmac, randomInt } from "node:crypto";

export const BASE_URL = required("HERALD_URL").replace(/\/+$/, "");
const SECRET = required("HERALD_JWT_SECRET");
// The node's JWT_LEEWAY_SECONDS: a token is refused (a socket closed with 4001) this long after exp.
export const LEEWAY_SECONDS = Number(process.env.HERALD_JWT_LEEWAY_SECONDS || 30);
const SENDER_ID = 900000001;
const STAFF_ID = 900000002;

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with clients/js/test/run.sh`);
  return value;
}

const base64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

// An HS256 JWT with `claims` (exp: `ttlSeconds` from now unless given).
export function mint(claims, ttlSeconds = 3600) {
  const body = { exp: Math.floor(Date.now() / 1000) + ttlSeconds, ...claims };
  const unsigned = `${base64url({ alg: "HS256", typ: "JWT" })}.${base64url(body)}`;
  return `${unsigned}.${createHmac("sha256", SECRET).update(unsigned).digest("base64url")}`;
}

export const userToken = (userId, ttlSeconds = 3600) => mint({ user_id: userId }, ttlSeconds);
export const senderToken = () => mint({ user_id: SENDER_ID, scope: "notifications:send" });
export const staffToken = () => mint({ user_id: STAFF_ID, is_staff: true });

// A user id no other test (nor an earlier run on the same database) uses.
let nextOffset = 0;
const firstUser = randomInt(1, 800000) * 1000;
export const freshUser = () => firstUser + nextOffset++;

// A REST call: {status, body}.
export async function rest(method, path, token, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`${BASE_URL}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

// A notification created for `userId` by a service (the `notifications:send` scope).
export async function createFor(userId, title, fields = {}) {
  const { status, body } = await rest("POST", "/auth/notifications/create/", senderToken(), { user_id: userId, title, ...fields });
  if (status !== 201) throw new Error(`create for ${userId}: ${status} ${JSON.stringify(body)}`);
  return body.notification;
}

// The user's list as REST gives it (`query` without "?"), and their counts.
export async function listOf(userId, query = "") {
  const { status, body } = await rest("GET", `/auth/notifications/?${query}`, userToken(userId));
  if (status !== 200) throw new Error(`list ${query}: ${status} ${JSON.stringify(body)}`);
  return body;
}

export const idsOf = (list) => list.notifications.map((n) => n.id);

export async function countsOf(userId) {
  return (await rest("GET", "/auth/notifications/unread-count/", userToken(userId))).body;
}

// Polls `check` until it returns something truthy; fails naming `what` after `timeoutMs`.
export async function until(what, check, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Every event of `client` named in `names`, in order: [{event, args}].
export function recorder(client, names) {
  const seen = [];
  for (const event of names) client.on(event, (...args) => seen.push({ event, args }));
  seen.of = (event) => seen.filter((e) => e.event === event).map((e) => e.args);
  return seen;
}

// Waits until `client` emits `event` (with args passing `accept`), resolving with its args.
export function next(client, event, accept = () => true, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off(event, handler);
      reject(new Error(`no "${event}" event within ${timeoutMs} ms`));
    }, timeoutMs);
    const handler = (...args) => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      client.off(event, handler);
      resolve(args);
    };
    client.on(event, handler);
  });
}
