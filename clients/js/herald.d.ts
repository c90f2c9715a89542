// Type declarations of herald.js (@herald-notify/client): the client's options, its events and
// their handler signatures, the shapes the server sends (README, "WebSocket API" and "REST
// reference"), the list filters and every method. Written for TypeScript 4.8 and later.

// ---- what the server sends ------------------------------------------------------------------------

/** A notification, as every reply and frame shows it. Times are RFC 3339 (UTC, microseconds). */
export interface Notification {
  id: number;
  user_id: number;
  /** The user whose token created it; null when imported without one. */
  sender_id: number | null;
  /** One of the node's configured types (HERALD_NOTIFICATION_TYPES). */
  notification_type: string;
  title: string;
  message: string;
  data: Record<string, unknown>;
  link: string | null;
  is_read: boolean;
  read_at: string | null;
  created_at: string;
  /** When it was first seen (a read one is seen); null while unseen. */
  seen_at: string | null;
  /** Archived ones are read and out of the default list. */
  archived_at: string | null;
  /** Snoozed ones are read and out of the default list until then. */
  snoozed_until: string | null;
}

export interface Preference {
  enabled: boolean;
  realtime: boolean;
}

/** The unread and unseen counts that count-bearing frames carry. */
export interface Counts {
  unread_count: number;
  unseen_count: number;
}

/** An action of README's "Inbox states" table, single or bulk. */
export type StateAction = "read" | "unread" | "seen" | "archive" | "unarchive" | "delete" | "snooze";

/** A time: a Date, or an RFC 3339 string. */
export type Time = Date | string;

/**
 * The list filters (README, "List filters"), for getNotifications(), bulk() and matchesFilter().
 * Without `archived` or `snoozed` a filter selects the default list (neither).
 */
export interface ListFilter {
  /** One type, or several comma-separated. */
  type?: string;
  types?: string[] | string;
  notification_type?: string;
  category?: string;
  read?: boolean;
  /** The original's `unread=true`. */
  unread?: boolean;
  seen?: boolean;
  archived?: boolean;
  snoozed?: boolean;
  created_after?: Time;
  created_before?: Time;
  /** An id: notifications below it (the `next_before` of the page before). */
  before?: number;
  /** A JSON object the notification's `data` contains. */
  data?: Record<string, unknown>;
}

/** getNotifications()'s argument: the filters and a page size (1 to 200, default 50). */
export interface ListOptions extends ListFilter {
  limit?: number;
}

/** What `send()` creates (REST's create body, plus the frame's idempotency key). */
export interface NewNotification {
  /** Default: yourself. Others need `is_staff` or the `notifications:send` scope. */
  user_id?: number;
  title: string;
  message?: string;
  notification_type?: string;
  data?: Record<string, unknown>;
  link?: string | null;
  /** A repeat with the same key within 24 h gets the first reply again and creates nothing. */
  idempotency_key?: string;
}

/** update_preferences' body (REST's PUT): only the types, categories and fields given change. */
export interface PreferencesPatch {
  preferences?: Record<string, Partial<Preference>>;
  categories?: Record<string, Partial<Preference>>;
}

/** A frame the server sent. `request_id` echoes the request's on replies. */
export interface FrameBase {
  type: string;
  request_id?: string | number;
}

export interface ConnectionEstablishedFrame extends FrameBase, Counts {
  type: "connection_established";
  user_id: number;
  /** The newest notification id when the connection opened (0 when none). */
  last_id: number;
}

export interface NotificationFrame extends FrameBase {
  type: "notification";
  notification: Notification;
}

export interface NotificationsFrame extends FrameBase, Counts {
  type: "notifications";
  notifications: Notification[];
  /** Every notification the filter selects, ignoring `before` and `limit`. */
  total: number;
  next_before: number | null;
}

export interface NotificationReadFrame extends FrameBase, Partial<Counts> {
  type: "notification_read";
  notification_id: number;
  unread_count: number;
  /** Over SSE (REST's answer): the notification after the change. */
  notification?: Notification;
}

export interface NotificationUnreadFrame extends FrameBase, Partial<Counts> {
  type: "notification_unread";
  notification_id: number;
  unread_count: number;
  notification?: Notification;
}

export interface AllReadFrame extends FrameBase, Partial<Counts> {
  type: "all_read";
  marked: number;
  unread_count: number;
}

export interface NotificationDeletedFrame extends FrameBase, Partial<Counts> {
  type: "notification_deleted";
  notification_id: number;
  unread_count: number;
}

export interface NotificationsUpdatedFrame extends FrameBase, Counts {
  type: "notifications_updated";
  action: StateAction;
  /**
   * What changed (at most 1,000), else absent and `filter` is the action's. Over SSE, REST's
   * answer to a single-notification action names its id (none when nothing changed); to a bulk
   * action or mark_all_seen it names none (the pushed "updated" event does).
   */
  ids?: number[];
  filter?: ListFilter;
  changed: number;
  snooze_until?: string;
}

export interface NotificationsUnsnoozedFrame extends FrameBase, Counts {
  type: "notifications_unsnoozed";
  notifications: Notification[];
}

export interface NotificationSentFrame extends FrameBase {
  type: "notification_sent";
  /** Absent when the recipient disabled the type (then `suppressed`). */
  notification?: Notification;
  suppressed?: true;
  reason?: "preference";
}

export interface UnreadCountFrame extends FrameBase, Partial<Counts> {
  type: "unread_count";
  unread_count: number;
}

export interface PreferencesFrame extends FrameBase {
  type: "preferences";
  preferences: Record<string, Preference>;
  categories: Record<string, Preference>;
}

export interface SyncCompleteFrame extends FrameBase {
  type: "sync_complete";
  last_id: number;
}

export interface ResyncFrame extends FrameBase {
  type: "resync";
  unread_count: number;
  unseen_count?: number;
}

export interface PongFrame extends FrameBase {
  type: "pong";
}

export interface TokenRefreshedFrame extends FrameBase {
  type: "token_refreshed";
  /** The new token's expiry (RFC 3339); null over SSE for a token without `exp`. */
  expires_at: string | null;
}

/** An error frame; over SSE, REST's error as one, with its HTTP `status`. */
export interface ErrorFrame extends FrameBase {
  type: "error";
  code: string;
  message: string;
  field?: string;
  /** Seconds to wait (code `rate_limited`). */
  retry_after?: number;
  status?: number;
}

export type ServerFrame =
  | ConnectionEstablishedFrame
  | NotificationFrame
  | NotificationsFrame
  | NotificationReadFrame
  | NotificationUnreadFrame
  | AllReadFrame
  | NotificationDeletedFrame
  | NotificationsUpdatedFrame
  | NotificationsUnsnoozedFrame
  | NotificationSentFrame
  | UnreadCountFrame
  | PreferencesFrame
  | SyncCompleteFrame
  | ResyncFrame
  | PongFrame
  | TokenRefreshedFrame
  | ErrorFrame;

/** A request's rejection: the error frame that answered it, when one did. */
export interface HeraldRequestError extends Error {
  frame?: ErrorFrame;
}

// ---- the client ----------------------------------------------------------------------------------

export type Transport = "websocket" | "sse";
export type TransportOption = "auto" | Transport;
export type ConnectionState = "connecting" | "open" | "closed" | "reconnecting";

/** The "updated" event's argument: a notifications_updated frame, for applyUpdate(). */
export interface Update {
  action: StateAction;
  /** What changed, or null: then `filter` selects it. */
  ids: number[] | null;
  filter: ListFilter | null;
  changed: number;
  snoozeUntil: string | null;
}

/**
 * The WebSocket class the client constructs (the browser's, Node's, or one injected). The client
 * sets the three handlers and reads `data` of messages, `code` and `reason` of the close (the
 * events are `any` so that the DOM's own class fits).
 */
export interface WebSocketLike {
  readonly readyState: number;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketClass = new (url: string) => WebSocketLike;

/** The EventSource class the client constructs (the browser's, or one injected). */
export interface EventSourceLike {
  readonly readyState: number;
  readonly url: string;
  onerror: ((event: any) => void) | null;
  addEventListener(type: string, listener: (event: { data: string; lastEventId: string }) => void): void;
  close(): void;
}
export type EventSourceClass = new (url: string) => EventSourceLike;

export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal }) => Promise<{
  ok: boolean;
  status: number;
  statusText: string;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}>;

export interface HeraldClientOptions {
  /** The server, e.g. "https://herald.example.com" (a path prefix is kept). */
  baseUrl?: string | URL;
  /** The WebSocket URL itself (ws(s)://host/ws/notifications/); REST and SSE go to its host. */
  url?: string | URL;
  /** The access token (JWT). Without one, connect() first calls getToken. */
  token?: string;
  /** Resume after this notification id (WebSocket): what came after it is replayed. */
  since?: number;
  /** A fresh token: before the current one expires, and after a 4001 close. */
  getToken?: () => string | Promise<string>;
  /** How long before `exp` to refresh (default 60). */
  refreshBeforeSeconds?: number;
  /** Reconnect delays, doubled per failed attempt, with jitter (default 500 and 30000). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** How long a request waits for its reply (default 10000). */
  requestTimeoutMs?: number;
  /** How long a WebSocket may take to greet before it counts as failed (default 10000). */
  openTimeoutMs?: number;
  /** "auto" (default): the WebSocket, and the SSE stream when it cannot open. */
  transport?: TransportOption;
  /** WebSocket failures in a row (before one ever opened) after which "auto" uses SSE (default 2). */
  fallbackAfter?: number;
  /** Default: the global WebSocket; null: none ("auto" then uses SSE). */
  WebSocket?: WebSocketClass | null;
  /** Default: the global EventSource; null: none. */
  EventSource?: EventSourceClass | null;
  /** Default: the global fetch (REST calls on the SSE transport). */
  fetch?: FetchLike;
}

/** Each event's handler. The raw frame comes last where there is one. */
export interface HeraldEvents {
  notification: (notification: Notification, frame: NotificationFrame | NotificationSentFrame) => void;
  read: (id: number, unreadCount: number, frame: NotificationReadFrame) => void;
  unread: (id: number, unreadCount: number, frame: NotificationUnreadFrame) => void;
  all_read: (marked: number, frame: AllReadFrame) => void;
  deleted: (id: number, unreadCount: number, frame: NotificationDeletedFrame) => void;
  unread_count: (count: number, frame: ServerFrame) => void;
  unseen_count: (count: number, frame: ServerFrame) => void;
  updated: (update: Update, frame: NotificationsUpdatedFrame) => void;
  unsnoozed: (notifications: Notification[], frame: NotificationsUnsnoozedFrame) => void;
  preferences: (preferences: Record<string, Preference>, categories: Record<string, Preference>, frame: PreferencesFrame) => void;
  /** The list shown may be stale: fetch it again. `unreadCount` is null before any count. */
  resync: (unreadCount: number | null, frame: ServerFrame) => void;
  state: (state: ConnectionState) => void;
  transport: (transport: Transport) => void;
  /** Connection problems, and error frames no request waits for. */
  error: (error: Error | ErrorFrame) => void;
  frame: (frame: ServerFrame) => void;
  /** A frame sent over the WebSocket (with its request_id). */
  sent: (frame: { type: string; request_id: string; [field: string]: unknown }) => void;
  /** A connection attempt: its URL, the token elided. */
  connecting: (url: string) => void;
}

export type HeraldEventName = keyof HeraldEvents;

export class HeraldClient {
  constructor(options?: HeraldClientOptions);

  /** http(s)://host[/prefix], without a trailing slash. */
  readonly baseUrl: string;
  /** The WebSocket URL (without token or since). */
  readonly url: string;
  /** The SSE stream's URL (without token or last_event_id). */
  readonly sseUrl: string;
  /** The transport in use or last used; null before the first connection. */
  readonly transport: Transport | null;
  readonly state: ConnectionState;
  /** The current token (renewed by getToken). */
  token: string | undefined;
  /** The highest notification id seen: the `since` of the next WebSocket. */
  readonly lastId: number | null;
  /** The last SSE event id seen: the `last_event_id` of the next stream. */
  readonly lastEventId: string | null;
  /** The last known unread count; null before the first. */
  readonly unread: number | null;
  /** The last known unseen count (unread and never seen); null before the first. */
  readonly unseen: number | null;
  /** The user the token names, from the greeting. */
  readonly userId: number | null;

  on<E extends HeraldEventName>(event: E, handler: HeraldEvents[E]): this;
  off<E extends HeraldEventName>(event: E, handler: HeraldEvents[E]): this;

  /** Opens the connection (and keeps it open, reconnecting) until close(). */
  connect(): this;
  /** Closes for good: no reconnect; pending requests reject. */
  close(): void;
  /** Seconds until the token's `exp`; null without one. */
  secondsLeft(): number | null;

  markRead(id: number): Promise<NotificationReadFrame>;
  markUnread(id: number): Promise<NotificationUnreadFrame>;
  markAllRead(): Promise<AllReadFrame>;
  markSeen(id: number): Promise<NotificationsUpdatedFrame>;
  markAllSeen(): Promise<NotificationsUpdatedFrame>;
  archive(id: number): Promise<NotificationsUpdatedFrame>;
  unarchive(id: number): Promise<NotificationsUpdatedFrame>;
  /** Read and hidden until `until` (in the next 366 days), then back unread and unseen. */
  snooze(id: number, until: Time): Promise<NotificationsUpdatedFrame>;
  /** One action on up to 1,000 ids, or on every notification a filter selects. */
  bulk(action: Exclude<StateAction, "snooze">, selection: { ids: number[] } | { filter: ListFilter }): Promise<NotificationsUpdatedFrame>;
  bulk(action: "snooze", selection: { ids: number[] } | { filter: ListFilter }, snoozeUntil: Time): Promise<NotificationsUpdatedFrame>;
  /** bulk("archive", {filter: {read: true}}). */
  archiveAllRead(): Promise<NotificationsUpdatedFrame>;
  deleteNotification(id: number): Promise<NotificationDeletedFrame>;
  send(notification: NewNotification): Promise<NotificationSentFrame>;
  getNotifications(options?: ListOptions): Promise<NotificationsFrame>;
  getPreferences(): Promise<PreferencesFrame>;
  updatePreferences(patch: PreferencesPatch): Promise<PreferencesFrame>;
  unreadCount(): Promise<UnreadCountFrame>;
  /** WebSocket only: every notification after `since` again (default: the last id seen). */
  sync(since?: number): Promise<SyncCompleteFrame>;
  ping(): Promise<PongFrame>;
  /** A new token now (getToken's when none is given): refresh_token, or a new SSE stream. */
  refreshToken(token?: string): Promise<TokenRefreshedFrame>;
  /** Any client frame of README's table; resolves with its reply. */
  request(frame: { type: string; [field: string]: unknown }): Promise<ServerFrame>;
}

/** The `exp` claim of a JWT (seconds), or null. */
export function jwtExp(token: string | undefined | null): number | null;

/** The server's URLs from baseUrl, url, or the page's own host; throws without any. */
export function endpointsOf(options?: { baseUrl?: string | URL; url?: string | URL }): { base: string; ws: string; sse: string };

/** Whether `notification` is one that `filter` selects (as the server judges; not `category`). */
export function matchesFilter(notification: Notification, filter?: ListFilter | null): boolean;

/** What an "updated" event does to `notification`: a copy after it, null when deleted, or itself. */
export function applyUpdate(notification: Notification, update: Pick<Update, "action" | "ids" | "filter"> & Partial<Update>): Notification | null;

/** `notification` after `action` (README's state table): a copy, or null for "delete". */
export function applyAction(notification: Notification, action: StateAction, options?: { snoozeUntil?: string | null; at?: string }): Notification | null;
