//! `herald send` and `herald selftest`: a small client of a live node (or load balancer).
//! `selftest` is the original's `test_notification_system --run-all`: it runs each check of
//! the REST and WebSocket paths end to end, prints PASS/FAIL with its time, and fails (exit
//! non-zero) on any failure, with a clear message when the node is unreachable or refuses
//! the token. It cleans up what it created.

use actix_codec::Framed;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(5);

/// A REST + WebSocket client of one node.
pub struct NodeClient {
    base: String,
    token: String,
    http: awc::Client,
}

type Socket = Framed<BoxedSocket, Codec>;

impl NodeClient {
    pub fn new(base: &str, token: &str) -> NodeClient {
        let http = awc::Client::builder().timeout(TIMEOUT).finish();
        NodeClient { base: base.trim_end_matches('/').to_owned(), token: token.to_owned(), http }
    }

    /// Sends a request; returns status and JSON body. Errors say what went wrong in words.
    pub async fn call(
        &self,
        method: awc::http::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        let sent = match body {
            Some(body) => request.send_json(body).await,
            None => request.send().await,
        };
        let mut response = sent.map_err(|e| format!("cannot reach {}: {e}", self.base))?;
        let status = response.status().as_u16();
        let bytes = response.body().limit(8 << 20).await.map_err(|e| format!("reading the reply: {e}"))?;
        let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        if status == 401 {
            return Err(format!("the node refused the token (401): {}", value["error"]["message"]));
        }
        Ok((status, value))
    }

    async fn open_socket(&self, since: Option<i64>) -> Result<Socket, String> {
        let ws_base = self.base.replacen("http", "ws", 1);
        let since = since.map(|s| format!("&since={s}")).unwrap_or_default();
        let url = format!("{ws_base}/ws/notifications/?token={}{since}", self.token);
        let (_, socket) = tokio::time::timeout(TIMEOUT, self.http.ws(url).connect())
            .await
            .map_err(|_| "WebSocket handshake timed out".to_owned())?
            .map_err(|e| format!("WebSocket handshake failed: {e}"))?;
        Ok(socket)
    }
}

/// Reads frames until one of `kind` arrives (bounded).
async fn next_of_type(socket: &mut Socket, kind: &str) -> Result<Value, String> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, socket.next())
            .await
            .map_err(|_| format!("no {kind} frame within {TIMEOUT:?}"))?;
        match frame {
            Some(Ok(Frame::Text(bytes))) => {
                let value: Value = serde_json::from_slice(&bytes).map_err(|e| format!("bad frame: {e}"))?;
                if value["type"] == kind {
                    return Ok(value);
                }
            }
            Some(Ok(Frame::Ping(payload))) => {
                let _ = socket.send(Message::Pong(payload)).await;
            }
            Some(Ok(Frame::Close(reason))) => return Err(format!("socket closed: {reason:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("socket error: {e}")),
            None => return Err("socket ended".into()),
        }
    }
}

async fn send_frame(socket: &mut Socket, frame: Value) -> Result<(), String> {
    socket.send(Message::Text(frame.to_string().into())).await.map_err(|e| format!("sending a frame: {e}"))
}

/// `herald send`: creates one notification, returns the stored one.
pub async fn send(base: &str, token: &str, body: &Value) -> Result<Value, String> {
    let client = NodeClient::new(base, token);
    let (status, reply) = client.call(awc::http::Method::POST, "/auth/notifications/create/", Some(body)).await?;
    match status {
        201 => Ok(reply["notification"].clone()),
        200 => Ok(reply),
        _ => {
            let error = &reply["error"];
            let field = error["field"].as_str().map(|f| format!(" (field {f})")).unwrap_or_default();
            Err(format!(
                "{status} {}: {}{field}",
                error["code"].as_str().unwrap_or("error"),
                error["message"].as_str().unwrap_or("unexpected reply")
            ))
        }
    }
}

struct Run {
    passed: usize,
    failed: usize,
}

impl Run {
    fn report(&mut self, name: &str, started: Instant, outcome: Result<String, String>) -> bool {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match outcome {
            Ok(detail) => {
                self.passed += 1;
                println!("PASS  {name:<40} {ms:>8.1} ms  {detail}");
                true
            }
            Err(why) => {
                self.failed += 1;
                println!("FAIL  {name:<40} {ms:>8.1} ms  {why}");
                false
            }
        }
    }
}

fn id_of(notification: &Value) -> Result<i64, String> {
    notification["id"].as_i64().ok_or_else(|| format!("no id in {notification}"))
}

/// `herald selftest`: returns Ok when every check passed.
pub async fn selftest(base: &str, token: &str, user: i64) -> Result<(), String> {
    use awc::http::Method;
    let client = NodeClient::new(base, token);
    let mut run = Run { passed: 0, failed: 0 };
    let mut created: Vec<i64> = Vec::new();
    println!("herald selftest against {base} as user {user}");

    let t = Instant::now();
    let ready = client.call(Method::GET, "/readyz", None).await;
    if let Err(why) = &ready {
        run.report("node reachable", t, Err(why.clone()));
        return Err("the node is unreachable".into());
    }
    run.report(
        "node ready (/readyz)",
        t,
        match ready {
            Ok((200, _)) => Ok("database and broker answer".into()),
            Ok((status, body)) => Err(format!("{status}: {}", body["checks"])),
            Err(why) => Err(why),
        },
    );

    let t = Instant::now();
    let first = async {
        let (status, body) = client
            .call(
                Method::POST,
                "/auth/notifications/create/",
                Some(&json!({"user_id": user, "title": "selftest: REST create"})),
            )
            .await?;
        if status != 201 {
            return Err(format!("create answered {status}: {body}"));
        }
        id_of(&body["notification"])
    }
    .await;
    let first_id = match first {
        Ok(id) => {
            created.push(id);
            run.report("REST create", t, Ok(format!("id {id}")));
            id
        }
        Err(why) => {
            run.report("REST create", t, Err(why.clone()));
            return Err(format!("cannot continue: {why}"));
        }
    };

    let t = Instant::now();
    let outcome = async {
        let (_, list) = client.call(Method::GET, "/auth/notifications/?limit=5", None).await?;
        let (_, count) = client.call(Method::GET, "/auth/notifications/unread-count/", None).await?;
        let listed = list["notifications"].as_array().is_some_and(|l| l.iter().any(|n| n["id"] == first_id));
        if !listed {
            return Err("the new notification is not in the list".into());
        }
        Ok(format!("listed; unread_count {}", count["unread_count"]))
    }
    .await;
    run.report("REST list and unread count", t, outcome);

    let t = Instant::now();
    let sockets = async {
        let mut a = client.open_socket(None).await?;
        next_of_type(&mut a, "connection_established").await?;
        let mut b = client.open_socket(None).await?;
        next_of_type(&mut b, "connection_established").await?;
        Ok::<_, String>((a, b))
    }
    .await;
    let (mut a, mut b) = match sockets {
        Ok(pair) => {
            run.report("WebSocket connect (2 sockets)", t, Ok("connection_established".into()));
            pair
        }
        Err(why) => {
            run.report("WebSocket connect (2 sockets)", t, Err(why.clone()));
            cleanup(&client, &created).await;
            return Err(format!("{} check(s) failed", run.failed));
        }
    };

    let t = Instant::now();
    let live = async {
        let (_, body) = client
            .call(
                Method::POST,
                "/auth/notifications/create/",
                Some(&json!({"user_id": user, "title": "selftest: live delivery"})),
            )
            .await?;
        let id = id_of(&body["notification"])?;
        let pushed = next_of_type(&mut a, "notification").await?;
        next_of_type(&mut b, "notification").await?;
        if pushed["notification"]["id"] != id {
            return Err(format!("pushed {} instead of {id}", pushed["notification"]["id"]));
        }
        Ok(id)
    }
    .await;
    let live_id = match live {
        Ok(id) => {
            created.push(id);
            run.report("live delivery of a REST create", t, Ok(format!("id {id} on both sockets")));
            Some(id)
        }
        Err(why) => {
            run.report("live delivery of a REST create", t, Err(why));
            None
        }
    };

    if let Some(id) = live_id {
        let t = Instant::now();
        let outcome = async {
            send_frame(&mut a, json!({"type": "mark_read", "notification_id": id, "request_id": "selftest"})).await?;
            next_of_type(&mut a, "notification_read").await?;
            let pushed = next_of_type(&mut b, "notification_read").await?;
            Ok(format!("unread_count {}", pushed["unread_count"]))
        }
        .await;
        run.report("mark_read on one socket reaches the other", t, outcome);

        let t = Instant::now();
        let outcome = async {
            let (status, _) = client.call(Method::DELETE, &format!("/auth/notifications/{id}/delete/"), None).await?;
            if status != 200 {
                return Err(format!("delete answered {status}"));
            }
            next_of_type(&mut a, "notification_deleted").await?;
            next_of_type(&mut b, "notification_deleted").await?;
            Ok("both sockets told".into())
        }
        .await;
        if outcome.is_ok() {
            created.retain(|c| *c != id);
        }
        run.report("delete sync", t, outcome);
    }

    let t = Instant::now();
    let outcome = async {
        drop(b);
        let (_, body) = client
            .call(
                Method::POST,
                "/auth/notifications/create/",
                Some(&json!({"user_id": user, "title": "selftest: while away"})),
            )
            .await?;
        let missed = id_of(&body["notification"])?;
        created.push(missed);
        let mut again = client.open_socket(Some(first_id)).await?;
        let replayed = next_of_type(&mut again, "notification").await?;
        let done = next_of_type(&mut again, "sync_complete").await?;
        if done["last_id"].as_i64() < Some(missed) {
            return Err(format!(
                "sync_complete {done} before {missed}; first replayed {}",
                replayed["notification"]["id"]
            ));
        }
        Ok(format!("replayed up to {}", done["last_id"]))
    }
    .await;
    run.report("resume with since after a disconnect", t, outcome);

    let t = Instant::now();
    let outcome = async {
        let (_, before) = client.call(Method::GET, "/auth/notifications/preferences/", None).await?;
        let previous = before["preferences"]["mom_created"].clone();
        let off = json!({"preferences": {"mom_created": {"enabled": false}}});
        client.call(Method::PUT, "/auth/notifications/preferences/", Some(&off)).await?;
        let (status, body) = client
            .call(
                Method::POST,
                "/auth/notifications/create/",
                Some(&json!({"user_id": user, "title": "selftest: suppressed", "type": "mom_created"})),
            )
            .await?;
        let restore = json!({"preferences": {"mom_created": previous}});
        client.call(Method::PUT, "/auth/notifications/preferences/", Some(&restore)).await?;
        if status == 200 && body["suppressed"] == true {
            Ok("suppressed, preference restored".into())
        } else {
            Err(format!("{status}: {body}"))
        }
    }
    .await;
    run.report("preference suppression", t, outcome);

    let t = Instant::now();
    let outcome = async {
        let body = json!({"user_ids": [user], "title": "selftest: broadcast"});
        let (status, reply) = client.call(Method::POST, "/auth/notifications/broadcast/", Some(&body)).await?;
        if status == 403 {
            return Err("the token may not broadcast (needs is_staff or notifications:send)".into());
        }
        if status != 201 {
            return Err(format!("{status}: {reply}"));
        }
        let ids: Vec<i64> = reply["notification_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        created.extend(&ids);
        let wanted = *ids.first().ok_or("the broadcast created nothing")?;
        loop {
            // Earlier pushes (the create made while the other socket was away) come first.
            let pushed = next_of_type(&mut a, "notification").await?;
            match pushed["notification"]["id"].as_i64() {
                Some(id) if id == wanted => break,
                Some(id) if id < wanted => continue,
                _ => return Err(format!("pushed {} but broadcast made {ids:?}", pushed["notification"]["id"])),
            }
        }
        Ok(format!("created {}", reply["created"]))
    }
    .await;
    run.report("broadcast", t, outcome);

    cleanup(&client, &created).await;
    println!("{} passed, {} failed", run.passed, run.failed);
    if run.failed == 0 {
        Ok(())
    } else {
        Err(format!("{} check(s) failed", run.failed))
    }
}

/// Deletes what the selftest created (best effort).
async fn cleanup(client: &NodeClient, created: &[i64]) {
    for id in created {
        let _ = client.call(awc::http::Method::DELETE, &format!("/auth/notifications/{id}/delete/"), None).await;
    }
}
