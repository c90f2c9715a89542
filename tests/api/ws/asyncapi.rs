//! `asyncapi.yaml` (the WebSocket and SSE protocol, AsyncAPI 3.0) is true of the code: it is
//! AsyncAPI 3.0.x, it has a message for every client frame type `ws::protocol::parse` reads and
//! every server frame type `event::ServerFrame` serializes, its operations and channels refer to
//! those messages consistently, its examples fit their schemas, and its `Notification` is the one
//! of `openapi.json`. Then a live node (PostgreSQL) is driven through every client frame on one
//! socket while REST changes, a snooze coming back and a repaired gap push frames to a second
//! socket and to an SSE stream: every frame sent and every frame and event received is validated
//! against the schema of its `type` (a `type` without a message fails), and every server frame
//! type must have been seen.

use crate::helpers::source::{blank_comments_and_literals, matching_brace};
use crate::helpers::*;
use awc::http::StatusCode;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use futures_util::{SinkExt, StreamExt};
use jsonschema::Validator;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

const DOCUMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/asyncapi.yaml");
const OPENAPI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
const WEBSOCKET: &str = "websocket";
const SSE: &str = "sse";
/// The SSE stream's last event: it has no `type` (its message is named `close`).
const SSE_CLOSE: &str = "close";

/// The document as JSON.
fn document() -> Value {
    let text = std::fs::read_to_string(DOCUMENT).unwrap_or_else(|e| panic!("{DOCUMENT}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{DOCUMENT} is not YAML: {e}"))
}

/// What a local `$ref` (`#/a/b`) points at.
fn resolve<'d>(doc: &'d Value, reference: &str) -> &'d Value {
    let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("{reference} is not a local reference"));
    doc.pointer(pointer).unwrap_or_else(|| panic!("{reference} points at nothing"))
}

/// `value`, or what it refers to when it is a `$ref`.
fn deref<'d>(doc: &'d Value, value: &'d Value) -> &'d Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => resolve(doc, reference),
        None => value,
    }
}

/// `value` with every `#/components/schemas/X` reference turned into `#/$defs/X`.
fn rewrite_refs(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| match (key.as_str(), item.as_str()) {
                    ("$ref", Some(reference)) => {
                        (key.clone(), Value::String(reference.replace("#/components/schemas/", "#/$defs/")))
                    }
                    _ => (key.clone(), rewrite_refs(item)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(rewrite_refs).collect()),
        other => other.clone(),
    }
}

/// A validator for `schema` (a schema of the document), with the document's schemas as `$defs`
/// and formats (`date-time`) asserted.
fn validator(doc: &Value, schema: &Value, what: &str) -> Validator {
    let Value::Object(mut root) = rewrite_refs(schema) else { panic!("{what}: the schema is not an object") };
    root.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
    root.insert("$defs".into(), rewrite_refs(&doc["components"]["schemas"]));
    jsonschema::options()
        .should_validate_formats(true)
        .build(&Value::Object(root))
        .unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e}"))
}

/// Every reason `instance` breaks `validator`, one per line (empty when it fits).
fn violations(validator: &Validator, instance: &Value) -> String {
    validator.iter_errors(instance).map(|e| format!("\n  - at {:?}: {e}", e.instance_path().as_str())).collect()
}

/// The messages the document has, by name (the frame's `type`), with the channels and
/// directions its operations give them.
struct Contract {
    doc: Value,
    /// Client frame types (messages of `receive` operations) and their validators.
    client: BTreeMap<String, Validator>,
    /// Server frame types on the WebSocket (`send` operations and replies) and their validators.
    server: BTreeMap<String, Validator>,
    /// The messages the SSE channel lists (frame types, and `close`).
    sse: BTreeSet<String>,
    sse_close: Validator,
    /// `ServerFrame` and `ClientFrame`, the unions: each frame fits exactly one member.
    any_server: Validator,
    any_client: Validator,
}

impl Contract {
    fn load() -> Contract {
        let doc = document();
        let version = doc["asyncapi"].as_str().unwrap_or_default().to_owned();
        assert!(version.starts_with("3.0."), "asyncapi.yaml must be AsyncAPI 3.0.x, it says {version:?}");
        let message_name = |reference: &str| -> String {
            let message = deref(&doc, resolve(&doc, reference));
            message["name"].as_str().unwrap_or_else(|| panic!("{reference} has no name")).to_owned()
        };
        let (mut client, mut server, mut sse) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        let operations = doc["operations"].as_object().expect("operations");
        for (name, operation) in operations {
            let channel = operation["channel"]["$ref"].as_str().unwrap_or_else(|| panic!("operation {name}: channel"));
            let channel_name = channel.trim_start_matches("#/channels/");
            let own = format!("{channel}/messages/");
            let refs = |list: &Value| -> Vec<String> {
                let list = list.as_array().unwrap_or_else(|| panic!("operation {name}: messages"));
                list.iter()
                    .map(|m| {
                        let reference = m["$ref"].as_str().unwrap_or_else(|| panic!("operation {name}: {m}"));
                        assert!(reference.starts_with(&own), "operation {name}: {reference} is not of {channel}");
                        message_name(reference)
                    })
                    .collect()
            };
            match (operation["action"].as_str(), channel_name) {
                (Some("receive"), WEBSOCKET) => {
                    client.extend(refs(&operation["messages"]));
                    assert_eq!(operation["reply"]["channel"]["$ref"], channel, "operation {name}: reply channel");
                    server.extend(refs(&operation["reply"]["messages"]));
                }
                (Some("send"), WEBSOCKET) => server.extend(refs(&operation["messages"])),
                (Some("send"), SSE) => sse.extend(refs(&operation["messages"])),
                other => panic!("operation {name}: unexpected action and channel {other:?}"),
            }
        }
        // Every message a channel lists is some operation's.
        for (channel, used) in [(WEBSOCKET, client.union(&server).cloned().collect()), (SSE, sse.clone())] {
            let listed: BTreeSet<String> = doc["channels"][channel]["messages"]
                .as_object()
                .unwrap_or_else(|| panic!("channel {channel}: messages"))
                .keys()
                .map(|key| message_name(&format!("#/channels/{channel}/messages/{key}")))
                .collect();
            assert_eq!(listed, used, "channel {channel}: messages listed (left) vs used by operations (right)");
        }
        assert!(client.is_disjoint(&server), "a message is both a client and a server frame");
        let frame_validator = |name: &String| {
            let message = &doc["components"]["messages"][name.as_str()];
            assert_eq!(message["name"], json!(name), "components/messages/{name}: name");
            (name.clone(), validator(&doc, &message["payload"], &format!("message {name}")))
        };
        let client_validators = client.iter().map(frame_validator).collect();
        let server_validators = server.iter().map(frame_validator).collect();
        let schema_ref = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
        Contract {
            sse_close: validator(&doc, &doc["components"]["messages"][SSE_CLOSE]["payload"], "message close"),
            any_server: validator(&doc, &schema_ref("ServerFrame"), "ServerFrame"),
            any_client: validator(&doc, &schema_ref("ClientFrame"), "ClientFrame"),
            client: client_validators,
            server: server_validators,
            sse,
            doc,
        }
    }

    /// A frame the test sends: it must fit its message (and exactly one member of `ClientFrame`).
    fn check_client(&self, frame: &Value) {
        let kind = frame["type"].as_str().unwrap_or_else(|| panic!("a client frame without a type: {frame}"));
        let validator = self.client.get(kind).unwrap_or_else(|| panic!("asyncapi.yaml has no client message {kind:?}"));
        let broken = violations(validator, frame);
        assert!(broken.is_empty(), "the client frame {frame} breaks the `{kind}` message of asyncapi.yaml:{broken}");
        let broken = violations(&self.any_client, frame);
        assert!(broken.is_empty(), "the client frame {frame} is not exactly one ClientFrame:{broken}");
    }

    /// A frame received on the WebSocket: its `type` has a message and it fits it.
    fn check_server(&self, frame: &Value, from: &str) -> String {
        let kind = frame["type"].as_str().unwrap_or_else(|| panic!("{from}: a frame without a type: {frame}"));
        let validator = self.server.get(kind).unwrap_or_else(|| {
            panic!("{from} received a `{kind}` frame, and asyncapi.yaml has no server message of that type: {frame}")
        });
        let broken = violations(validator, frame);
        assert!(
            broken.is_empty(),
            "{from} received {frame}, which breaks the `{kind}` message of asyncapi.yaml:{broken}"
        );
        let broken = violations(&self.any_server, frame);
        assert!(broken.is_empty(), "{from} received {frame}, which is not exactly one ServerFrame:{broken}");
        kind.to_owned()
    }
}

/// `CamelCase` → `camel_case`, as `#[serde(rename_all = "snake_case")]` names a variant.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The body of the first `{ … }` after `marker` in `file` (under `src/`), as (text, blanked code).
fn block_after(file: &str, marker: &str) -> (String, String) {
    let path = format!("{}/src/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let code = blank_comments_and_literals(&text);
    let at = code.find(marker).unwrap_or_else(|| panic!("{marker:?} is not in src/{file}"));
    let open = at + code[at..].find('{').expect("a block");
    let close = matching_brace(&code, open).expect("the block ends");
    (text[open + 1..close].to_owned(), code[open + 1..close].to_owned())
}

/// Every `type` a server frame can have: the variants of `event::ServerFrame`, snake_case, or
/// their `#[serde(rename = "…")]`.
fn server_frame_types_in_code() -> BTreeSet<String> {
    let (text, code) = block_after("event/mod.rs", "pub enum ServerFrame");
    let (mut types, mut renamed, mut depth) = (BTreeSet::new(), None, 0i32);
    for (line, blanked) in text.lines().zip(code.lines()) {
        if depth == 0 {
            if let Some(rest) = line.trim().strip_prefix("#[serde(rename = \"") {
                renamed = rest.split('"').next().map(str::to_owned);
            }
            let word: String = blanked.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            if word.starts_with(|c: char| c.is_ascii_uppercase()) {
                types.insert(renamed.take().unwrap_or_else(|| snake_case(&word)));
            }
        }
        depth += blanked.matches('{').count() as i32 - blanked.matches('}').count() as i32;
    }
    assert!(types.len() >= 15, "ServerFrame read wrongly: {types:?}");
    types
}

/// Every `type` `ws::protocol::parse` accepts: the string patterns of its `match kind.as_str()`.
fn client_frame_types_in_code() -> BTreeSet<String> {
    let (text, _) = block_after("ws/protocol.rs", "let frame = match kind.as_str()");
    let mut types = BTreeSet::new();
    for line in text.lines().map(str::trim).filter(|line| line.starts_with('"')) {
        let patterns = line.split("=>").next().unwrap_or_default();
        types.extend(patterns.split('|').map(|p| p.trim().trim_matches('"').to_owned()));
    }
    assert!(types.len() >= 15, "protocol::parse read wrongly: {types:?}");
    types
}

#[test]
fn the_document_names_every_frame_of_the_code_and_its_examples_fit() {
    let contract = Contract::load();
    let client: BTreeSet<String> = contract.client.keys().cloned().collect();
    assert_eq!(client, client_frame_types_in_code(), "client messages of asyncapi.yaml (left) vs the code's (right)");
    let server: BTreeSet<String> = contract.server.keys().cloned().collect();
    assert_eq!(server, server_frame_types_in_code(), "server messages of asyncapi.yaml (left) vs the code's (right)");
    let pushes = ["connection_established", "notification", "resync", "unread_count", "notifications_updated"];
    for kind in pushes.into_iter().chain([SSE_CLOSE]) {
        assert!(contract.sse.contains(kind), "the SSE channel lists no {kind}");
    }
    assert!(contract.sse.iter().all(|kind| kind == SSE_CLOSE || server.contains(kind)), "{:?}", contract.sse);

    // Each message's payload names its `type` (one value), and its examples fit it.
    let doc = &contract.doc;
    for (name, message) in doc["components"]["messages"].as_object().expect("messages") {
        let payload = deref(doc, &message["payload"]);
        let members: Vec<&Value> = match payload["oneOf"].as_array() {
            Some(members) if payload.get("properties").is_none() => members.iter().map(|m| deref(doc, m)).collect(),
            _ => vec![payload],
        };
        for member in members {
            let kinds = &member["properties"]["type"]["enum"];
            if name != SSE_CLOSE {
                assert_eq!(kinds, &json!([name]), "message {name}: the payload's `type` enum");
                assert!(member["required"].as_array().is_some_and(|r| r.contains(&json!("type"))), "{name}");
            }
            assert_eq!(member["additionalProperties"], json!(false), "message {name}: a frame is closed");
        }
        let check = validator(doc, &message["payload"], name);
        for example in message["examples"].as_array().into_iter().flatten() {
            let broken = violations(&check, &example["payload"]);
            assert!(broken.is_empty(), "message {name}: the example {} does not fit:{broken}", example["payload"]);
        }
    }

    // Every reference resolves.
    fn refs<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    out.push(reference);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(doc, &mut all);
    for reference in all {
        resolve(doc, reference);
    }

    // The notification is the REST one: the same fields, all required, and the same types.
    let openapi: Value = serde_json::from_str(&std::fs::read_to_string(OPENAPI).expect("openapi.json")).expect("JSON");
    let (rest, live) =
        (&openapi["components"]["schemas"]["Notification"], &doc["components"]["schemas"]["Notification"]);
    let keys = |schema: &Value| -> BTreeSet<String> {
        schema["properties"].as_object().expect("properties").keys().cloned().collect()
    };
    let required = |schema: &Value| -> BTreeSet<String> {
        schema["required"].as_array().expect("required").iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
    };
    assert_eq!(keys(live), keys(rest), "Notification fields: asyncapi.yaml (left) vs openapi.json (right)");
    assert_eq!(required(live), required(rest), "Notification required: asyncapi.yaml (left) vs openapi.json (right)");
    for field in keys(rest) {
        let (l, r) = (&live["properties"][&field], &rest["properties"][&field]);
        for keyword in ["type", "format", "minimum", "minLength", "maxLength", "$ref"] {
            assert_eq!(l[keyword], r[keyword], "Notification.{field}.{keyword}: asyncapi.yaml vs openapi.json");
        }
    }
    let rest_types = &openapi["components"]["schemas"]["NotificationType"]["enum"];
    assert_eq!(&doc["components"]["schemas"]["NotificationType"]["enum"], rest_types, "NotificationType");
    assert_eq!(
        doc["components"]["schemas"]["ErrorCode"]["enum"],
        openapi["components"]["schemas"]["ErrorCode"]["enum"]
    );
    assert_eq!(doc["info"]["version"], openapi["info"]["version"], "info.version: asyncapi.yaml vs openapi.json");

    // Frames the server refuses do not fit the document either.
    for bad in [
        json!({"type": "mark_read"}),
        json!({"type": "mark_read", "notification_id": 0}),
        json!({"type": "sync"}),
        json!({"type": "sync", "since": -1}),
        json!({"type": "get_notifications", "limit": 500}),
        json!({"type": "bulk", "action": "archive", "ids": [1], "filter": {}}),
        json!({"type": "bulk", "action": "snooze", "ids": [1]}),
        json!({"type": "bulk", "action": "archive", "filter": {"colour": "red"}}),
        json!({"type": "update_preferences"}),
        json!({"type": "refresh_token", "token": ""}),
        json!({"type": "send_notification"}),
    ] {
        let kind = bad["type"].as_str().expect("type");
        assert!(!contract.client[kind].is_valid(&bad), "asyncapi.yaml accepts {bad}, which the server refuses");
    }
}

/// One WebSocket whose every received frame is checked against the document and counted.
struct Socket<'c> {
    ws: WsClient,
    label: &'static str,
    contract: &'c Contract,
    /// Server frame types received, with how many of each.
    seen: BTreeMap<String, usize>,
    /// Client frame types sent (each checked against its message).
    sent: BTreeSet<String>,
}

impl<'c> Socket<'c> {
    fn new(ws: WsClient, label: &'static str, contract: &'c Contract) -> Self {
        Socket { ws, label, contract, seen: BTreeMap::new(), sent: BTreeSet::new() }
    }

    fn record(&mut self, frame: &Value) {
        let kind = self.contract.check_server(frame, self.label);
        *self.seen.entry(kind).or_default() += 1;
    }

    /// The next frame within `WAIT` (`None` when the server closed the socket: its code).
    async fn next(&mut self) -> Result<Value, u16> {
        match read_until(&mut self.ws, Instant::now() + WAIT).await {
            Read::Frame(frame) => {
                self.record(&frame);
                Ok(frame)
            }
            Read::Closed(code) => Err(code),
            Read::Quiet => panic!("{}: no frame within {WAIT:?}", self.label),
        }
    }

    /// Reads (recording) until a frame of `kind` arrives.
    async fn until_type(&mut self, kind: &str) -> Value {
        loop {
            match self.next().await {
                Ok(frame) if frame["type"] == kind => return frame,
                Ok(_) => {}
                Err(code) => panic!("{}: closed with {code} while waiting for {kind}", self.label),
            }
        }
    }

    /// Reads (recording) until a frame of each of `kinds` has arrived, in any order.
    async fn until_each(&mut self, kinds: &[&str]) {
        let mut missing: BTreeSet<&str> = kinds.iter().copied().collect();
        while !missing.is_empty() {
            match self.next().await {
                Ok(frame) => {
                    missing.remove(frame["type"].as_str().unwrap_or_default());
                }
                Err(code) => panic!("{}: closed with {code} while waiting for {missing:?}", self.label),
            }
        }
    }

    /// Sends `frame` (checked against its message first) and reads until the reply that echoes
    /// its `request_id`.
    async fn ask(&mut self, frame: Value) -> Value {
        self.contract.check_client(&frame);
        self.sent.insert(frame["type"].as_str().unwrap_or_default().to_owned());
        self.ask_unchecked(frame.to_string(), frame["request_id"].clone()).await
    }

    async fn ask_unchecked(&mut self, text: String, request_id: Value) -> Value {
        assert!(!request_id.is_null(), "{text}: a request_id to find the reply by");
        self.ws.send_text(&text).await;
        loop {
            match self.next().await {
                Ok(frame) if frame.get("request_id") == Some(&request_id) => return frame,
                Ok(_) => {}
                Err(code) => panic!("{}: closed with {code} waiting for the reply to {text}", self.label),
            }
        }
    }

    /// Reads (recording) until the server closes the socket; its close code.
    async fn until_closed(&mut self) -> u16 {
        loop {
            if let Err(code) = self.next().await {
                return code;
            }
        }
    }
}

/// One server-sent event.
#[derive(Debug, Default, Clone)]
struct SseEvent {
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    retry: bool,
    comment: bool,
}

/// An SSE response read by a task into a channel, parsed into events.
struct SseStream {
    chunks: mpsc::UnboundedReceiver<bytes::Bytes>,
    buffer: String,
    ended: bool,
}

impl SseStream {
    async fn open(app: &TestApp, query: &str, headers: &[(&str, &str)]) -> SseStream {
        let client = awc::Client::builder().disable_timeout().finish();
        let mut request =
            client.get(app.url(&format!("/sse/notifications/{query}"))).insert_header(("Accept", "text/event-stream"));
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        let sent = tokio::time::timeout(WAIT, request.send()).await.expect("SSE response within WAIT");
        let mut response = sent.expect("SSE request reaches the node");
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        let (tx, chunks) = mpsc::unbounded_channel();
        actix_web::rt::spawn(async move {
            while let Some(Ok(chunk)) = response.next().await {
                if tx.send(chunk).is_err() {
                    break;
                }
            }
        });
        SseStream { chunks, buffer: String::new(), ended: false }
    }

    /// The next event before `deadline`; `None` when the stream ended or the deadline passed.
    async fn next_before(&mut self, deadline: Instant) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse_event(&block));
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.chunks.recv()).await {
                Ok(Some(chunk)) => self.buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8 events")),
                Ok(None) => self.ended = true,
                Err(_) => return None,
            }
        }
    }
}

fn parse_event(block: &str) -> SseEvent {
    let mut event = SseEvent::default();
    for line in block.lines().filter(|line| !line.is_empty()) {
        if line.starts_with(':') {
            event.comment = true;
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
        match field {
            "id" => event.id = Some(value),
            "event" => event.event = Some(value),
            "data" => {
                event.data = Some(match event.data.take() {
                    Some(earlier) => format!("{earlier}\n{value}"),
                    None => value,
                })
            }
            "retry" => event.retry = value.parse::<u64>().is_ok(),
            other => panic!("an SSE field the protocol does not use: {other:?} in {block:?}"),
        }
    }
    event
}

/// Checks one SSE event against the document: `event:` is its data's `type` (or `close`), the
/// data fits that message, the SSE channel lists it, and it has an `id:` cursor unless it is the
/// greeting or the close. Returns its name (`None` for a `retry:` or a heartbeat comment).
fn check_sse_event(contract: &Contract, event: &SseEvent, label: &str) -> Option<String> {
    let (Some(name), Some(data)) = (&event.event, &event.data) else {
        assert!(event.retry || event.comment, "{label}: an event without a name or data: {event:?}");
        return None;
    };
    let data: Value =
        serde_json::from_str(data).unwrap_or_else(|e| panic!("{label}: data is not JSON ({e}): {event:?}"));
    assert!(contract.sse.contains(name), "{label}: the SSE channel of asyncapi.yaml lists no {name:?}: {event:?}");
    if name == SSE_CLOSE {
        let broken = violations(&contract.sse_close, &data);
        assert!(broken.is_empty(), "{label}: the close event {data} breaks asyncapi.yaml:{broken}");
        assert_eq!(event.id, None, "{label}: the close event carries no id");
    } else {
        assert_eq!(data["type"], json!(name), "{label}: `event:` is not the data's type: {event:?}");
        contract.check_server(&data, label);
        match name.as_str() {
            "connection_established" => assert_eq!(event.id, None, "{label}: the greeting carries no id"),
            _ => {
                let id = event.id.as_deref().unwrap_or_else(|| panic!("{label}: no id: {event:?}"));
                let parts: Vec<&str> = id.split(':').collect();
                assert!(
                    parts.len() == 2 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
                    "{label}: the id {id:?} is not `<position>:<notification id>`"
                );
            }
        }
    }
    Some(name.clone())
}

/// Moves the user's stream position on without a publish, as a lost publish or retention does:
/// the node's position check repairs the sockets, ending in `resync` and `unread_count`.
fn lose_a_change(url: &str, user: i64) {
    let mut db = diesel::PgConnection::establish(url).expect("connect to the test database");
    db.batch_execute(&format!("UPDATE inbox_state SET last_seq = last_seq + 1 WHERE user_id = {user}"))
        .expect("advance the stream position");
}

/// Every client frame type, from socket `a` (each checked against the document before it is
/// sent), with the reply it gets. Leaves `first` snoozed for two seconds and `second` deleted.
async fn ask_every_client_frame(a: &mut Socket<'_>, user: i64, first: i64, second: i64) {
    let page = a
        .ask(json!({"type": "get_notifications", "limit": 10, "types": ["general"], "unread": true, "request_id": 1}))
        .await;
    assert_eq!((page["type"].clone(), page["total"].clone()), (json!("notifications"), json!(2)), "{page}");
    let filtered = a
        .ask(json!({"type": "get_notifications", "notification_type": "general,meeting", "seen": false,
                    "created_after": "2020-01-01T00:00:00Z", "data": {}, "before": second.to_string(), "request_id": "p2"}))
        .await;
    assert_eq!(filtered["type"], "notifications", "{filtered}");
    let replies = [
        (json!({"type": "get_unread_count", "request_id": "count"}), "unread_count"),
        (json!({"type": "mark_read", "notification_id": first, "request_id": 2}), "notification_read"),
        (json!({"type": "mark_unread", "notification_id": first, "request_id": 3}), "notification_unread"),
        (json!({"type": "mark_seen", "notification_id": second.to_string(), "request_id": 4}), "notifications_updated"),
        (json!({"type": "archive", "notification_id": first, "request_id": 5}), "notifications_updated"),
        (json!({"type": "unarchive", "notification_id": first, "request_id": 6}), "notifications_updated"),
        (json!({"type": "mark_all_seen", "request_id": 7}), "notifications_updated"),
        (json!({"type": "bulk", "action": "read", "ids": [first, second], "request_id": 8}), "notifications_updated"),
        (
            json!({"type": "bulk", "action": "unread", "filter": {"read": true}, "request_id": 9}),
            "notifications_updated",
        ),
        (json!({"type": "mark_all_read", "request_id": 10}), "all_read"),
        (
            json!({"type": "update_preferences", "preferences": {"approval": {"enabled": false}}, "request_id": 11}),
            "preferences",
        ),
        (json!({"type": "get_preferences", "request_id": 12}), "preferences"),
        (
            json!({"type": "send_notification", "title": "from a socket", "message": "hello", "notification_type": "meeting",
                   "data": {"k": 1}, "link": "https://example.com/x", "user_id": user, "idempotency_key": "asyncapi-1",
                   "request_id": 13}),
            "notification_sent",
        ),
        (json!({"type": "delete_notification", "notification_id": second, "request_id": 15}), "notification_deleted"),
        (json!({"type": "sync", "since": 0, "request_id": 16}), "sync_complete"),
        (json!({"type": "ping", "request_id": 17}), "pong"),
    ];
    for (frame, reply) in replies {
        let answer = a.ask(frame.clone()).await;
        assert_eq!(answer["type"], reply, "{frame} → {answer}");
    }
    // The recipient turned approvals off: `notification_sent` in its other shape.
    let suppressed = a
        .ask(
            json!({"type": "send_notification", "title": "leave", "notification_type": "approval", "form_type": "leave",
                    "item_id": 7, "approved": true, "request_id": 14}),
        )
        .await;
    assert_eq!(
        (suppressed["type"].clone(), suppressed["suppressed"].clone()),
        (json!("notification_sent"), json!(true))
    );
    let later = sign(&json!({"token_type": "access", "user_id": user, "exp": now_secs() + 7200}));
    let refreshed = a.ask(json!({"type": "refresh_token", "token": later, "request_id": 18})).await;
    assert_eq!(refreshed["type"], "token_refreshed", "{refreshed}");
    // Snoozed for two seconds: it comes back as `notifications_unsnoozed`.
    let until = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let snoozed =
        a.ask(json!({"type": "snooze", "notification_id": first, "snooze_until": until, "request_id": 19})).await;
    assert_eq!((snoozed["type"].clone(), snoozed["action"].clone()), (json!("notifications_updated"), json!("snooze")));
}

/// Frames the server cannot do get `error` frames (and the document refuses them too).
async fn send_bad_frames(a: &mut Socket<'_>) {
    for (text, field) in [
        (r#"{"type":"explode","request_id":"bad-1"}"#, "type"),
        (r#"{"type":"mark_read","request_id":"bad-2"}"#, "notification_id"),
    ] {
        let frame: Value = serde_json::from_str(text).expect("JSON");
        if let Some(validator) = frame["type"].as_str().and_then(|kind| a.contract.client.get(kind)) {
            assert!(!validator.is_valid(&frame), "asyncapi.yaml accepts {text}");
        }
        assert!(!a.contract.any_client.is_valid(&frame), "ClientFrame accepts {text}");
        let error = a.ask_unchecked(text.to_owned(), frame["request_id"].clone()).await;
        assert_eq!((error["type"].clone(), error["field"].clone()), (json!("error"), json!(field)), "{error}");
    }
    a.ws.send_text("not json").await;
    assert_eq!(a.until_type("error").await["code"], "invalid_json");
    a.ws.stream.send(Message::binary(vec![1u8, 2, 3])).await.expect("send a binary frame");
    assert_eq!(a.until_type("error").await["code"], "bad_request");
}

/// Creates a notification over REST and reads, unreads, archives, marks all read and deletes it:
/// each change is pushed to every socket and stream of the user.
async fn change_over_rest(app: &TestApp, user: i64) {
    let me = token(user);
    let third = create_id(app, user, "changed over REST").await;
    let path = |action: &str| format!("/auth/notifications/{third}/{action}/");
    for action in ["read", "unread", "archive"] {
        let (status, body) = app.post_empty(&path(action), &me).await;
        assert_eq!(status, StatusCode::OK, "{action}: {body}");
    }
    let (status, body) = app.post_empty("/auth/notifications/mark-all-read/", &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.delete(&path("delete"), &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Checks the events of a whole SSE stream: each fits the document, the stream starts with
/// `retry:`, has heartbeats, ends with `close`, and carried every message the SSE channel lists.
fn check_sse_stream(contract: &Contract, events: &[SseEvent]) {
    let names: BTreeSet<String> =
        events.iter().filter_map(|event| check_sse_event(contract, event, "the SSE stream")).collect();
    assert!(events.first().is_some_and(|e| e.retry), "the stream starts with retry: {:?}", events.first());
    assert!(events.iter().any(|e| e.comment), "no heartbeat comment on the stream");
    let last = events.iter().rev().find_map(|e| e.event.clone());
    assert_eq!(last.as_deref(), Some(SSE_CLOSE), "the stream's last event");
    assert_eq!(names, contract.sse, "SSE events received (left) vs the SSE channel's messages (right)");
}

#[actix_web::test]
async fn every_frame_a_live_node_sends_or_accepts_fits_the_asyncapi_document() {
    let contract = Contract::load();
    let (guard, url) = DbGuard::new(Backend::Postgres);
    let extra = [
        ("HERALD_WS_PING_INTERVAL_SECS", "1"),
        ("HERALD_POSITION_CHECK_MS", "200"),
        ("HERALD_WS_FRAMES_PER_SECOND", "1000"),
    ];
    let app = TestApp::spawn_on(guard, &url, &extra).await;
    let user = 31;
    let me = token(user);
    let first = create_id(&app, user, "before the sockets").await;

    // The SSE stream and socket B only listen; socket A asks.
    let mut sse = SseStream::open(&app, &format!("?token={me}"), &[]).await;
    let mut sse_events = Vec::new();
    let deadline = Instant::now() + WAIT;
    while sse_events.last().is_none_or(|e: &SseEvent| e.event.as_deref() != Some("connection_established")) {
        sse_events.push(sse.next_before(deadline).await.expect("the SSE greeting"));
    }
    let mut b = Socket::new(WsClient::connect(&app, &me, None).await, "socket B", &contract);
    b.until_type("connection_established").await;
    let mut a = Socket::new(WsClient::connect(&app, &me, Some(0)).await, "socket A", &contract);
    a.until_type("connection_established").await;
    assert_eq!(a.until_type("notification").await["notification"]["id"], first, "the replay of since=0");
    a.until_type("sync_complete").await;

    // A REST create reaches both sockets.
    let second = create_id(&app, user, "while they listen").await;
    for socket in [&mut a, &mut b] {
        assert_eq!(socket.until_type("notification").await["notification"]["id"], second);
    }

    ask_every_client_frame(&mut a, user, first, second).await;
    assert_eq!(a.sent, client_frame_types_in_code(), "client frame types sent (left) vs the code's (right)");
    send_bad_frames(&mut a).await;
    change_over_rest(&app, user).await;
    for socket in [&mut a, &mut b] {
        socket.until_each(&["notification_deleted", "notifications_unsnoozed"]).await;
    }

    // A change whose publish was lost: the position check repairs every stream of the user.
    lose_a_change(&url, user);
    for socket in [&mut a, &mut b] {
        socket.until_each(&["resync", "unread_count"]).await;
    }

    // An administrator disconnects the user: sockets close with 4003, the stream ends with `close`.
    let (status, body) = app.post_empty(&format!("/admin/api/users/{user}/disconnect/"), &staff_token(9)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for socket in [&mut a, &mut b] {
        assert_eq!(socket.until_closed().await, 4003, "{}", socket.label);
    }
    let deadline = Instant::now() + WAIT;
    while let Some(event) = sse.next_before(deadline).await {
        sse_events.push(event);
    }
    assert!(sse.ended, "the stream did not end after its close event; got {sse_events:?}");

    // Every server frame type of the code was received, each fitting its message.
    let mut seen = a.seen.clone();
    for (kind, count) in &b.seen {
        *seen.entry(kind.clone()).or_default() += count;
    }
    let types: BTreeSet<String> = seen.keys().cloned().collect();
    assert_eq!(types, server_frame_types_in_code(), "server frame types received (left) vs the code's (right)");
    assert!(types.len() >= 17, "{seen:?}");
    check_sse_stream(&contract, &sse_events);

    // A stream resumed with `Last-Event-ID` (the cursor of the first push): greeting, then what
    // was missed since, each fitting the document.
    let cursor = sse_events
        .iter()
        .find(|e| e.event.as_deref() == Some("notification"))
        .and_then(|e| e.id.clone())
        .expect("a notification event with an id");
    let mut resumed = SseStream::open(&app, &format!("?token={me}"), &[("Last-Event-ID", &cursor)]).await;
    let mut names = Vec::new();
    let mut quiet_after = Instant::now() + WAIT;
    while let Some(event) = resumed.next_before(quiet_after).await {
        if let Some(name) = check_sse_event(&contract, &event, "the resumed SSE stream") {
            names.push(name);
            quiet_after = Instant::now() + Duration::from_millis(1500);
        }
    }
    assert_eq!(names.first().map(String::as_str), Some("connection_established"), "{names:?}");
    assert!(names.iter().any(|n| n == "notification"), "the resume sent no missed notification: {names:?}");
    assert!(names.iter().any(|n| n == "resync"), "the resume sent no resync: {names:?}");
}
