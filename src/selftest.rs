//! `herald selftest`: the original's `test_notification_system --run-all`. `CHECKS` lists each
//! end-to-end check of the REST and WebSocket paths in order; each prints PASS/FAIL with its
//! time, a failed check the rest depends on ends the run, any failure fails it (exit non-zero).
//! It cleans up what it created. The client itself is `crate::client`.

use crate::client::{next_event, next_of_type, send_frame, ClientError, NodeClient, Socket};
use awc::http::Method;
use futures_util::future::LocalBoxFuture;
use serde_json::{json, Value};
use std::time::Instant;

/// Why one check failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Client(#[from] ClientError),
    /// The node did not answer at all: nothing else can run.
    #[error("{0}")]
    Unreachable(#[source] ClientError),
    #[error("{status}: {body}")]
    Unexpected { status: u16, body: Value },
    #[error("create answered {status}: {body}")]
    CreateAnswered { status: u16, body: Value },
    #[error("delete answered {0}")]
    DeleteAnswered(u16),
    #[error("no id in {0}")]
    NoId(Value),
    #[error("the new notification is not in the list")]
    NotListed,
    #[error("pushed {pushed} instead of {expected}")]
    WrongPush { pushed: Value, expected: i64 },
    #[error("sync_complete {done} before {missed}; first replayed {first}")]
    ShortReplay { done: Value, missed: i64, first: Value },
    #[error("the token may not broadcast (needs is_staff or notifications:send)")]
    MayNotBroadcast,
    #[error("the broadcast created nothing")]
    EmptyBroadcast,
    #[error("pushed {pushed} but broadcast made {ids:?}")]
    WrongBroadcastPush { pushed: Value, ids: Vec<i64> },
    /// A check ran without what an earlier one provides (a bug in `CHECKS`' order).
    #[error("needs {0} from an earlier check")]
    Missing(&'static str),
    #[error("SSE pushed {pushed} instead of {expected}")]
    WrongEvent { pushed: Value, expected: i64 },
    #[error("/admin/ answered {status} without the console: {start}")]
    NoConsole { status: u16, start: String },
}

/// Why the selftest failed, after printing its checks.
#[derive(Debug, thiserror::Error)]
pub enum SelftestError {
    #[error("the node is unreachable")]
    Unreachable,
    #[error("cannot continue: {0}")]
    CannotContinue(#[source] CheckError),
    #[error("{0} check(s) failed")]
    Failed(usize),
}

/// What the checks share: the client, what they created (deleted at the end) and sockets.
struct Selftest {
    client: NodeClient,
    user: i64,
    created: Vec<i64>,
    first_id: Option<i64>,
    live_id: Option<i64>,
    a: Option<Socket>,
    b: Option<Socket>,
}

type Outcome<'a> = LocalBoxFuture<'a, Result<String, CheckError>>;

/// What a failed check means for the run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnFailure {
    Continue,
    /// Nothing was created yet and nothing else can work: stop at once.
    CannotContinue,
    /// The rest needs it: clean up and fail without the summary line.
    End,
}

struct Check {
    name: &'static str,
    run: for<'a> fn(&'a mut Selftest) -> Outcome<'a>,
    on_failure: OnFailure,
    /// Runs only when this holds (else skipped silently).
    runs_if: fn(&Selftest) -> bool,
}

fn always(_: &Selftest) -> bool {
    true
}

fn live_delivered(s: &Selftest) -> bool {
    s.live_id.is_some()
}

const fn check(name: &'static str, run: for<'a> fn(&'a mut Selftest) -> Outcome<'a>) -> Check {
    Check { name, run, on_failure: OnFailure::Continue, runs_if: always }
}

/// Every check, in the order they run.
const CHECKS: &[Check] = &[
    check("node ready (/readyz)", |s| Box::pin(ready(s))),
    Check { on_failure: OnFailure::CannotContinue, ..check("REST create", |s| Box::pin(rest_create(s))) },
    check("REST list and unread count", |s| Box::pin(rest_list(s))),
    Check { on_failure: OnFailure::End, ..check("WebSocket connect (2 sockets)", |s| Box::pin(connect(s))) },
    check("live delivery of a REST create", |s| Box::pin(live_delivery(s))),
    Check { runs_if: live_delivered, ..check("mark_read on one socket reaches the other", |s| Box::pin(mark_read(s))) },
    Check { runs_if: live_delivered, ..check("delete sync", |s| Box::pin(delete_sync(s))) },
    check("resume with since after a disconnect", |s| Box::pin(resume(s))),
    check("SSE stream: live push, resume by Last-Event-ID", |s| Box::pin(event_stream(s))),
    check("preference suppression", |s| Box::pin(preference_suppression(s))),
    check("broadcast", |s| Box::pin(broadcast(s))),
    check("admin console served (/admin/)", |s| Box::pin(admin_console(s))),
];

/// Runs `CHECKS` against `base` as `user`; Ok when every check passed.
pub async fn selftest(base: &str, token: &str, user: i64) -> Result<(), SelftestError> {
    let mut s = Selftest {
        client: NodeClient::new(base, token),
        user,
        created: Vec::new(),
        first_id: None,
        live_id: None,
        a: None,
        b: None,
    };
    let (mut passed, mut failed) = (0, 0);
    println!("herald selftest against {base} as user {user}");
    for check in CHECKS {
        if !(check.runs_if)(&s) {
            continue;
        }
        let started = Instant::now();
        let outcome = (check.run)(&mut s).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let why = match outcome {
            Ok(detail) => {
                passed += 1;
                println!("PASS  {:<40} {ms:>8.1} ms  {detail}", check.name);
                continue;
            }
            Err(CheckError::Unreachable(why)) => {
                println!("FAIL  {:<40} {ms:>8.1} ms  {why}", "node reachable");
                return Err(SelftestError::Unreachable);
            }
            Err(why) => why,
        };
        failed += 1;
        println!("FAIL  {:<40} {ms:>8.1} ms  {why}", check.name);
        match check.on_failure {
            OnFailure::Continue => {}
            OnFailure::CannotContinue => return Err(SelftestError::CannotContinue(why)),
            OnFailure::End => {
                cleanup(&s.client, &s.created).await;
                return Err(SelftestError::Failed(failed));
            }
        }
    }
    cleanup(&s.client, &s.created).await;
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        Ok(())
    } else {
        Err(SelftestError::Failed(failed))
    }
}

/// Deletes what the selftest created (best effort).
async fn cleanup(client: &NodeClient, created: &[i64]) {
    for id in created {
        let _ = client.call(Method::DELETE, &format!("/auth/notifications/{id}/delete/"), None).await;
    }
}

fn id_of(notification: &Value) -> Result<i64, CheckError> {
    notification["id"].as_i64().ok_or_else(|| CheckError::NoId(notification.clone()))
}

/// Creates a notification for the selftest's user, of type `kind` when given.
async fn create(s: &Selftest, title: &str, kind: Option<&str>) -> Result<(u16, Value), ClientError> {
    let mut body = json!({"user_id": s.user, "title": title});
    if let Some(kind) = kind {
        body["type"] = json!(kind);
    }
    s.client.call(Method::POST, "/auth/notifications/create/", Some(&body)).await
}

fn socket(socket: &mut Option<Socket>) -> Result<&mut Socket, CheckError> {
    socket.as_mut().ok_or(CheckError::Missing("an open WebSocket"))
}

/// `/readyz`; where the deployment keeps it off the public port (`HERALD_OPS_BIND`: nginx in
/// docker-compose.yml answers it 404), `/healthz`, and the checks after this one prove the
/// database and the broker.
async fn ready(s: &mut Selftest) -> Result<String, CheckError> {
    match s.client.call(Method::GET, "/readyz", None).await.map_err(CheckError::Unreachable)? {
        (200, _) => Ok("database and broker answer".into()),
        (404, _) => match s.client.call(Method::GET, "/healthz", None).await.map_err(CheckError::Unreachable)? {
            (200, _) => Ok("/readyz is not public here (ops listener); /healthz answers".into()),
            (status, body) => Err(CheckError::Unexpected { status, body }),
        },
        (status, body) => Err(CheckError::Unexpected { status, body: body["checks"].clone() }),
    }
}

async fn rest_create(s: &mut Selftest) -> Result<String, CheckError> {
    let (status, body) = create(s, "selftest: REST create", None).await?;
    if status != 201 {
        return Err(CheckError::CreateAnswered { status, body });
    }
    let id = id_of(&body["notification"])?;
    s.created.push(id);
    s.first_id = Some(id);
    Ok(format!("id {id}"))
}

async fn rest_list(s: &mut Selftest) -> Result<String, CheckError> {
    let first_id = s.first_id.ok_or(CheckError::Missing("the first notification"))?;
    let (_, list) = s.client.call(Method::GET, "/auth/notifications/?limit=5", None).await?;
    let (_, count) = s.client.call(Method::GET, "/auth/notifications/unread-count/", None).await?;
    let listed = list["notifications"].as_array().is_some_and(|l| l.iter().any(|n| n["id"] == first_id));
    if !listed {
        return Err(CheckError::NotListed);
    }
    Ok(format!("listed; unread_count {}", count["unread_count"]))
}

async fn connect(s: &mut Selftest) -> Result<String, CheckError> {
    let mut a = s.client.open_socket(None).await?;
    next_of_type(&mut a, "connection_established").await?;
    let mut b = s.client.open_socket(None).await?;
    next_of_type(&mut b, "connection_established").await?;
    (s.a, s.b) = (Some(a), Some(b));
    Ok("connection_established".into())
}

async fn live_delivery(s: &mut Selftest) -> Result<String, CheckError> {
    let (_, body) = create(s, "selftest: live delivery", None).await?;
    let id = id_of(&body["notification"])?;
    let pushed = next_of_type(socket(&mut s.a)?, "notification").await?;
    next_of_type(socket(&mut s.b)?, "notification").await?;
    if pushed["notification"]["id"] != id {
        return Err(CheckError::WrongPush { pushed: pushed["notification"]["id"].clone(), expected: id });
    }
    s.created.push(id);
    s.live_id = Some(id);
    Ok(format!("id {id} on both sockets"))
}

async fn mark_read(s: &mut Selftest) -> Result<String, CheckError> {
    let id = s.live_id.ok_or(CheckError::Missing("a delivered notification"))?;
    let a = socket(&mut s.a)?;
    send_frame(a, json!({"type": "mark_read", "notification_id": id, "request_id": "selftest"})).await?;
    next_of_type(a, "notification_read").await?;
    let pushed = next_of_type(socket(&mut s.b)?, "notification_read").await?;
    Ok(format!("unread_count {}", pushed["unread_count"]))
}

async fn delete_sync(s: &mut Selftest) -> Result<String, CheckError> {
    let id = s.live_id.ok_or(CheckError::Missing("a delivered notification"))?;
    let (status, _) = s.client.call(Method::DELETE, &format!("/auth/notifications/{id}/delete/"), None).await?;
    if status != 200 {
        return Err(CheckError::DeleteAnswered(status));
    }
    next_of_type(socket(&mut s.a)?, "notification_deleted").await?;
    next_of_type(socket(&mut s.b)?, "notification_deleted").await?;
    s.created.retain(|c| *c != id);
    Ok("both sockets told".into())
}

async fn resume(s: &mut Selftest) -> Result<String, CheckError> {
    let first_id = s.first_id.ok_or(CheckError::Missing("the first notification"))?;
    s.b = None;
    let (_, body) = create(s, "selftest: while away", None).await?;
    let missed = id_of(&body["notification"])?;
    s.created.push(missed);
    let mut again = s.client.open_socket(Some(first_id)).await?;
    let replayed = next_of_type(&mut again, "notification").await?;
    let done = next_of_type(&mut again, "sync_complete").await?;
    if done["last_id"].as_i64() < Some(missed) {
        return Err(CheckError::ShortReplay { done, missed, first: replayed["notification"]["id"].clone() });
    }
    Ok(format!("replayed up to {}", done["last_id"]))
}

/// The SSE stream (the WebSocket fallback): a live push, then a resume with `Last-Event-ID`
/// gets what was created while away (through a proxy, it proves the stream is not buffered).
async fn event_stream(s: &mut Selftest) -> Result<String, CheckError> {
    let mut stream = s.client.open_event_stream(None).await?;
    next_event(&mut stream, "connection_established").await?;
    let (_, body) = create(s, "selftest: over SSE", None).await?;
    let live = id_of(&body["notification"])?;
    s.created.push(live);
    let pushed = next_event(&mut stream, "notification").await?;
    if pushed.data["notification"]["id"] != live {
        return Err(CheckError::WrongEvent { pushed: pushed.data["notification"]["id"].clone(), expected: live });
    }
    drop(stream);
    let (_, body) = create(s, "selftest: while the stream was away", None).await?;
    let missed = id_of(&body["notification"])?;
    s.created.push(missed);
    let mut resumed = s.client.open_event_stream(pushed.id.as_deref()).await?;
    let replayed = next_event(&mut resumed, "notification").await?;
    if replayed.data["notification"]["id"] != missed {
        return Err(CheckError::WrongEvent { pushed: replayed.data["notification"]["id"].clone(), expected: missed });
    }
    Ok(format!("id {live} live, {missed} on resume"))
}

async fn preference_suppression(s: &mut Selftest) -> Result<String, CheckError> {
    const PREFERENCES: &str = "/auth/notifications/preferences/";
    let (_, before) = s.client.call(Method::GET, PREFERENCES, None).await?;
    let previous = before["preferences"]["mom_created"].clone();
    let off = json!({"preferences": {"mom_created": {"enabled": false}}});
    s.client.call(Method::PUT, PREFERENCES, Some(&off)).await?;
    let (status, body) = create(s, "selftest: suppressed", Some("mom_created")).await?;
    let restore = json!({"preferences": {"mom_created": previous}});
    s.client.call(Method::PUT, PREFERENCES, Some(&restore)).await?;
    if status == 200 && body["suppressed"] == true {
        Ok("suppressed, preference restored".into())
    } else {
        Err(CheckError::Unexpected { status, body })
    }
}

async fn broadcast(s: &mut Selftest) -> Result<String, CheckError> {
    let body = json!({"user_ids": [s.user], "title": "selftest: broadcast"});
    let (status, reply) = s.client.call(Method::POST, "/auth/notifications/broadcast/", Some(&body)).await?;
    if status == 403 {
        return Err(CheckError::MayNotBroadcast);
    }
    if status != 201 {
        return Err(CheckError::Unexpected { status, body: reply });
    }
    let ids: Vec<i64> =
        reply["notification_ids"].as_array().map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_default();
    s.created.extend(&ids);
    let wanted = *ids.first().ok_or(CheckError::EmptyBroadcast)?;
    let a = socket(&mut s.a)?;
    loop {
        // Earlier pushes (the create made while the other socket was away) come first.
        let pushed = next_of_type(a, "notification").await?;
        match pushed["notification"]["id"].as_i64() {
            Some(id) if id == wanted => break,
            Some(id) if id < wanted => continue,
            _ => return Err(CheckError::WrongBroadcastPush { pushed: pushed["notification"]["id"].clone(), ids }),
        }
    }
    Ok(format!("created {}", reply["created"]))
}

/// The admin console's page and its script are served (or, through nginx, refused from this
/// network by `HERALD_ADMIN_ALLOW`: said, not failed).
async fn admin_console(s: &mut Selftest) -> Result<String, CheckError> {
    let (status, page) = s.client.get_page("/admin/").await?;
    if status == 403 && page.contains("HERALD_ADMIN_ALLOW") {
        return Ok("not reachable from here (HERALD_ADMIN_ALLOW)".into());
    }
    if status != 200 || !page.contains("/admin/console.js") {
        return Err(CheckError::NoConsole { status, start: page.chars().take(80).collect() });
    }
    match s.client.get_page("/admin/console.js").await? {
        (200, script) if !script.is_empty() => {
            Ok(format!("page and script ({} KiB)", (page.len() + script.len()) / 1024))
        }
        (status, script) => Err(CheckError::NoConsole { status, start: script.chars().take(80).collect() }),
    }
}
