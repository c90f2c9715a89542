// A usage of the package as an application would write it, for `tsc -p clients/js --noEmit`:
// it imports by the package's name (so package.json's "exports" → "types" is checked too) and
// exercises the options, every event's handler signature, every method's reply and the exported
// helpers. The `@ts-expect-error` lines must stay errors: they are what the declarations refuse.

import { HeraldClient, applyAction, applyUpdate, endpointsOf, jwtExp, matchesFilter } from "@herald-notify/client";
import type {
  ConnectionState, ErrorFrame, HeraldClientOptions, HeraldRequestError, ListFilter, Notification, NotificationsFrame, Transport, Update,
} from "@herald-notify/client";

declare function fetchAccessToken(): Promise<string>;
declare function render(list: Notification[]): void;

export async function usage(): Promise<void> {
  const options: HeraldClientOptions = {
    baseUrl: "https://herald.example.com",
    token: await fetchAccessToken(),
    getToken: fetchAccessToken,
    transport: "auto",
    fallbackAfter: 3,
    backoff: { initialMs: 250 },
    // The browser's own classes fit the injection points.
    WebSocket,
    EventSource,
    fetch: (url, init) => fetch(url, init),
  };
  const client = new HeraldClient(options);
  new HeraldClient({ url: new URL("wss://herald.example.com/ws/notifications/"), WebSocket: null });

  const shown = new Map<number, Notification>();
  client
    .on("notification", (n) => shown.set(n.id, n))
    .on("read", (id, unreadCount) => console.log(id.toFixed(), unreadCount.toFixed()))
    .on("unread", (id) => shown.delete(id))
    .on("all_read", (marked, frame) => console.log(marked, frame.unread_count))
    .on("deleted", (id) => shown.delete(id))
    .on("unread_count", (count) => console.log(count + 1))
    .on("unseen_count", (count) => console.log(count + 1))
    .on("updated", (update: Update) => {
      for (const n of shown.values()) {
        const after = applyUpdate(n, update);
        if (after === null) shown.delete(n.id);
        else shown.set(after.id, after);
      }
    })
    .on("unsnoozed", (notifications) => notifications.forEach((n) => shown.set(n.id, n)))
    .on("preferences", (preferences) => console.log(preferences.general?.enabled))
    .on("resync", () => client.getNotifications({ limit: 50 }).then((page) => render(page.notifications)))
    .on("state", (state: ConnectionState) => console.log(state))
    .on("transport", (transport: Transport) => console.log(transport === "sse"))
    .on("error", (error) => console.log(error instanceof Error ? error.message : (error as ErrorFrame).code))
    .on("frame", (frame) => console.log(frame.type))
    .on("sent", (frame) => console.log(frame.request_id))
    .on("connecting", (url) => console.log(url.length));
  client.connect();

  const page: NotificationsFrame = await client.getNotifications({
    limit: 20,
    types: ["approval", "meeting"],
    unread: true,
    seen: false,
    data: { project: 42 },
    created_after: new Date(Date.now() - 86400e3),
    created_before: "2026-12-31T00:00:00Z",
    before: 120,
  });
  const next: number | null = page.next_before;
  const read = await client.markRead(page.notifications[0].id);
  const unread: number = read.unread_count;
  await client.markUnread(42);
  await client.markSeen(42);
  await client.markAllSeen();
  await client.markAllRead();
  const archived = await client.archive(42);
  const changedIds: number[] | undefined = archived.ids;
  await client.unarchive(42);
  await client.snooze(42, new Date(Date.now() + 3600e3));
  await client.bulk("delete", { ids: [41, 57] });
  await client.bulk("archive", { filter: { read: true } });
  await client.bulk("snooze", { ids: [41] }, "2026-12-08T09:00:00Z");
  await client.archiveAllRead();
  await client.deleteNotification(42);
  const sent = await client.send({ title: "Hi", user_id: 2, data: { k: 1 }, idempotency_key: "k-1" });
  if (!sent.suppressed) console.log(sent.notification?.title);
  const prefs = await client.updatePreferences({ categories: { billing: { enabled: false } }, preferences: { meeting: { realtime: false } } });
  console.log(prefs.preferences.meeting.realtime, (await client.getPreferences()).categories);
  console.log((await client.unreadCount()).unseen_count, (await client.sync()).last_id, (await client.ping()).type);
  console.log((await client.refreshToken()).expires_at, client.transport, client.unread, client.lastEventId, next, unread, changedIds);

  try {
    await client.markRead(1);
  } catch (err) {
    console.log((err as HeraldRequestError).frame?.retry_after);
  }

  const filter: ListFilter = { archived: true, types: "approval" };
  const n = page.notifications[0];
  console.log(matchesFilter(n, filter), applyAction(n, "archive")?.archived_at, jwtExp(client.token), endpointsOf({ baseUrl: "http://127.0.0.1:8000" }).sse);
  client.close();

  // @ts-expect-error: not a transport
  new HeraldClient({ transport: "long-polling" });
  // @ts-expect-error: ids are numbers
  await client.markRead("42");
  // @ts-expect-error: a snooze needs its time
  await client.bulk("snooze", { ids: [1] });
  // @ts-expect-error: no such event
  client.on("notifications", () => {});
  // @ts-expect-error: "read" handlers get the id, a number
  client.on("read", (id: string) => console.log(id));
}
