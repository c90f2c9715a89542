//! Black-box fuzzing of the WebSocket endpoint of a running node (issue 14): a bounded,
//! deterministic (seeded) barrage of hostile client frames written byte for byte on the wire —
//! wrong types for every field of every frame, huge and odd numbers (1e400, 2^64, -0, 1.5),
//! 10,000-deep nesting, unknown types, mutated frames, binary frames, fragmented messages with
//! pings between the fragments (characters cut between fragments too), protocol violations (bad
//! opcodes, unmasked frames, stray continuations, oversized or fragmented control frames, bad
//! close frames) and oversized frames, one of them declaring 1 TiB. Invalid UTF-8 (1007) and
//! reserved bits (1002) have their own test.
//!
//! The oracle (SPEC §5, README "WebSocket API"): a bad frame gets `{"type":"error",...}` with a
//! documented code and the socket stays usable; a frame that breaks the WebSocket protocol or the
//! size limit closes the socket with a documented close code (1002/1003/1007/1008/1009), never
//! anything else (no 1006 drop, no 1011). After the barrage the node is healthy: `/healthz` is
//! 200, a fresh socket is greeted and answers `ping`.

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

/// The barrage is the same on every run: its cases come from this seed.
const SEED: u64 = 0x4865_7261_6c64_1414;
/// The largest client frame or message (README: over 64 KiB closes with 1009).
const MAX_FRAME: usize = 64 * 1024;
/// Close codes a protocol violation or an oversized frame may get (README close-code table and
/// RFC 6455 §7.4.1).
const VIOLATION_CLOSE_CODES: [u16; 5] = [1002, 1003, 1007, 1008, 1009];
/// Error codes an error frame may carry (README "Errors" and "WebSocket API").
const ERROR_CODES: [&str; 7] =
    ["invalid_json", "validation_error", "bad_request", "unauthorized", "forbidden", "not_found", "rate_limited"];
/// Every frame type the server sends (README "WebSocket API").
const SERVER_FRAME_TYPES: [&str; 14] = [
    "connection_established",
    "notifications",
    "notification",
    "notification_read",
    "notification_unread",
    "all_read",
    "notification_deleted",
    "notification_sent",
    "unread_count",
    "resync",
    "sync_complete",
    "pong",
    "token_refreshed",
    "error",
];

// ---------------------------------------------------------------------------------------------
// the wire

const FIN: u8 = 0x80;
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One client frame as bytes (RFC 6455 §5.2): `head` is FIN | RSV | opcode, the length is
/// declared as `declared` in the shortest encoding, and the payload is masked unless `unmasked`.
fn frame_with(head: u8, payload: &[u8], declared: u64, unmasked: bool) -> Vec<u8> {
    let mask_bit = if unmasked { 0 } else { 0x80 };
    let mut out = vec![head];
    match declared {
        0..=125 => out.push(mask_bit | declared as u8),
        126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(declared as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&declared.to_be_bytes());
        }
    }
    if unmasked {
        out.extend_from_slice(payload);
    } else {
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    }
    out
}

/// A well-formed, masked frame.
fn frame(head: u8, payload: &[u8]) -> Vec<u8> {
    frame_with(head, payload, payload.len() as u64, false)
}

fn text(payload: impl AsRef<[u8]>) -> Vec<u8> {
    frame(FIN | TEXT, payload.as_ref())
}

/// `payload` as a text message in fragments cut at `cuts` (byte offsets, so a cut may split a
/// UTF-8 character), with a ping control frame after every fragment but the last when `pings`.
fn fragmented(payload: &[u8], cuts: &[usize], pings: bool) -> Vec<u8> {
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(payload.len())).collect();
    bounds.sort_unstable();
    bounds.dedup();
    bounds.push(payload.len());
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &end) in bounds.iter().enumerate() {
        let last = i == bounds.len() - 1;
        let opcode = if i == 0 { TEXT } else { CONTINUATION };
        out.extend(frame(if last { FIN | opcode } else { opcode }, &payload[start..end]));
        if pings && !last {
            out.extend(frame(FIN | PING, format!("between-{i}").as_bytes()));
        }
        start = end;
    }
    out
}

/// A close frame with a raw code and reason.
fn close_frame(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    frame(FIN | CLOSE, &payload)
}

// ---------------------------------------------------------------------------------------------
// the cases

/// SplitMix64: small, seeded, the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// What the server must do with a case.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Answer it (an error frame or a reply) and keep the socket; at least one error frame when
    /// `error`.
    Served { error: bool },
    /// Close the socket with one of these codes.
    Closed(&'static [u16]),
}

struct Case {
    name: String,
    bytes: Vec<u8>,
    expect: Expect,
}

impl Case {
    fn new(name: impl Into<String>, bytes: Vec<u8>, expect: Expect) -> Case {
        Case { name: name.into(), bytes, expect }
    }
}

const REFUSED: Expect = Expect::Served { error: true };
const ANSWERED: Expect = Expect::Served { error: false };
const VIOLATION: Expect = Expect::Closed(&VIOLATION_CLOSE_CODES);
const TOO_BIG: Expect = Expect::Closed(&[1009]);

fn nested(depth: usize, open: &str, close: &str, inner: &str) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

/// Values of the wrong type, out of range or not JSON at all, as JSON text.
fn hostile_values() -> Vec<String> {
    let mut values: Vec<String> = [
        "1e400",
        "-1e400",
        "18446744073709551616",
        "18446744073709551615",
        "9223372036854775808",
        "9223372036854775807",
        "-9223372036854775809",
        "-0",
        "-0.0",
        "0",
        "-1",
        "1.5",
        "1e2",
        "1E-7",
        "0x10",
        "01",
        "+1",
        ".5",
        "NaN",
        "Infinity",
        "null",
        "true",
        "false",
        "\"\"",
        "\"42\"",
        "\"-3\"",
        "\" 7\"",
        "\"1e3\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"\\ud83d\\ude00\"",
        "\"\u{202e}\u{feff}\"",
        "[]",
        "[1]",
        "{}",
        "{\"a\":1}",
    ]
    .map(String::from)
    .to_vec();
    values.push(nested(10_000, "[", "]", ""));
    values.push(nested(200, "{\"a\":", "}", "1"));
    values.push(format!("\"{}\"", "x".repeat(20_000)));
    values.push(format!("\"{}\"", "é".repeat(5_000)));
    values
}

/// Every client frame of SPEC §5 and its fields.
const FRAMES: [(&str, &[&str]); 9] = [
    ("get_notifications", &["limit", "before", "unread"]),
    ("mark_read", &["notification_id"]),
    ("mark_all_read", &[]),
    ("delete_notification", &["notification_id"]),
    ("send_notification", &["user_id", "title", "message", "notification_type", "data", "link"]),
    ("get_unread_count", &[]),
    ("sync", &["since"]),
    ("ping", &[]),
    ("refresh_token", &["token"]),
];

/// A valid value for each field, as JSON text.
fn valid_value(field: &str) -> &'static str {
    match field {
        "limit" => "20",
        "before" | "notification_id" | "since" => "120",
        "unread" => "true",
        "user_id" => "1",
        "title" => "\"Hi\"",
        "message" => "\"\u{2026}\"",
        "notification_type" => "\"general\"",
        "data" => "{\"k\":1}",
        "link" => "\"https://example.com/x\"",
        "token" => "\"garbage\"",
        _ => "null",
    }
}

/// A frame's JSON text with every field valid except `bad`, set to `value`.
fn frame_text(kind: &str, fields: &[&str], bad: Option<(&str, &str)>, request_id: &str) -> String {
    let mut members = vec![format!("\"type\":\"{kind}\"")];
    for field in fields {
        let value = match bad {
            Some((name, value)) if name == *field => value,
            _ => valid_value(field),
        };
        members.push(format!("\"{field}\":{value}"));
    }
    if let Some((name, value)) = bad {
        if !fields.contains(&name) {
            members.push(format!("\"{name}\":{value}"));
        }
    }
    if !matches!(bad, Some(("request_id", _))) {
        members.push(format!("\"request_id\":{request_id}"));
    }
    format!("{{{}}}", members.join(","))
}

/// Cases that must be answered on an open socket.
fn served_cases(rng: &mut Rng) -> Vec<Case> {
    let values = hostile_values();
    let mut cases = Vec::new();
    // Wrong types and odd numbers in every field of every frame: 6 seeded picks per field.
    for (kind, fields) in FRAMES {
        for field in fields.iter().chain(&["type", "request_id"]) {
            for _ in 0..6 {
                let value = rng.pick(&values);
                let payload = frame_text(kind, fields, Some((field, value)), &format!("\"{kind}.{field}\""));
                let name = format!("{kind}.{field} = {}", value.chars().take(40).collect::<String>());
                // The numeric fields' strings of digits are valid ids; anything may be valid
                // for `message`, `data`, `token` or `request_id`; the rest is refused or not.
                cases.push(Case::new(name, text(payload), ANSWERED));
            }
        }
    }
    // Every hostile value as the frame's type and as the whole frame.
    for value in &values {
        let short: String = value.chars().take(40).collect();
        cases.push(Case::new(format!("type = {short}"), text(format!("{{\"type\":{value}}}")), REFUSED));
        cases.push(Case::new(format!("frame = {short}"), text(value), REFUSED));
    }
    // Unknown types.
    for kind in ["", "PING", "ping ", " ping", "pin", "pingg", "Ping", "ping\u{0}", "pïng", "__proto__", "constructor"]
    {
        cases.push(Case::new(format!("unknown type {kind:?}"), text(json!({"type": kind}).to_string()), REFUSED));
    }
    // Deep nesting: whole frames, field values, request ids.
    for (name, payload) in [
        ("10,000 nested arrays", nested(10_000, "[", "]", "")),
        ("10,000 nested objects", nested(10_000, "{\"a\":", "}", "1")),
        ("10,000 unclosed arrays", "[".repeat(10_000)),
        ("nested request_id", format!("{{\"type\":\"ping\",\"request_id\":{}}}", nested(10_000, "[", "]", ""))),
        (
            "nested data",
            format!(
                "{{\"type\":\"send_notification\",\"title\":\"t\",\"data\":{}}}",
                nested(5_000, "{\"a\":", "}", "1")
            ),
        ),
        ("nested and unknown key", format!("{{\"x\":{},\"type\":\"ping\"}}", nested(10_000, "[", "]", ""))),
    ] {
        cases.push(Case::new(name, text(payload), REFUSED));
    }
    // Seeded mutations of valid frames: delete, insert, duplicate, truncate.
    let alphabet: Vec<char> = "{}[]\":,\\ 0123456789-.eE+tfnu\u{0}\u{7f}é😀\u{feff}".chars().collect();
    for i in 0..60 {
        let (kind, fields) = rng.pick(&FRAMES);
        let mut chars: Vec<char> = frame_text(kind, fields, None, &i.to_string()).chars().collect();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(chars.len());
            match rng.below(4) {
                0 => {
                    chars.remove(at);
                }
                1 => chars.insert(at, *rng.pick(&alphabet)),
                2 => {
                    let len = rng.below(chars.len() - at).min(16);
                    let copy: Vec<char> = chars[at..at + len].to_vec();
                    chars.splice(at..at, copy);
                }
                _ => chars.truncate(at.max(1)),
            }
        }
        let payload: String = chars.into_iter().collect();
        cases.push(Case::new(format!("mutated {kind} #{i}"), text(payload), ANSWERED));
    }
    // Odd but well-formed text frames.
    for (name, payload) in [
        ("empty text frame", String::new()),
        ("whitespace", " \t\r\n".into()),
        ("byte order mark", "\u{feff}{\"type\":\"ping\"}".into()),
        ("two frames in one", "{\"type\":\"ping\"}{\"type\":\"ping\"}".into()),
        ("trailing garbage", "{\"type\":\"ping\"} x".into()),
        ("duplicate keys", "{\"type\":\"ping\",\"type\":\"explode\",\"request_id\":1,\"request_id\":[]}".into()),
        ("NUL bytes", "\u{0}\u{0}\u{0}".into()),
        ("lone surrogate escape", "{\"type\":\"\\udc00\"}".into()),
    ] {
        cases.push(Case::new(name, text(payload), REFUSED));
    }
    // Binary frames, including empty and JSON ones.
    for i in 0..8 {
        let len = rng.below(200);
        cases.push(Case::new(format!("binary #{i}"), frame(FIN | BINARY, &rng.bytes(len)), REFUSED));
    }
    cases.push(Case::new("empty binary", frame(FIN | BINARY, b""), REFUSED));
    cases.push(Case::new("JSON in binary", frame(FIN | BINARY, b"{\"type\":\"ping\"}"), REFUSED));
    // Fragmented messages, some with pings between the fragments; cuts may split a character.
    for i in 0..24 {
        let (kind, fields) = rng.pick(&FRAMES);
        let mut payload = frame_text(kind, fields, None, &format!("\"frag-é😀-{i}\""));
        let error = i % 2 == 1;
        if error {
            // Not an object, and a raw NUL: invalid JSON however it is cut.
            payload = format!("\u{0}{}", payload.replacen('{', "[", 1));
        }
        let cuts: Vec<usize> = (0..1 + rng.below(6)).map(|_| rng.below(payload.len() + 1)).collect();
        let expect = if error { REFUSED } else { ANSWERED };
        cases.push(Case::new(
            format!("fragmented {kind} #{i}"),
            fragmented(payload.as_bytes(), &cuts, i % 3 != 0),
            expect,
        ));
    }
    let utf8 = "{\"type\":\"ping\",\"request_id\":\"😀😀😀\"}".as_bytes();
    let every_byte: Vec<usize> = (1..utf8.len()).collect();
    cases.push(Case::new("one byte per fragment, characters split", fragmented(utf8, &every_byte, false), ANSWERED));
    cases.push(Case::new("empty fragments", fragmented(b"{\"type\":\"ping\"}", &[0, 0, 15, 15], true), ANSWERED));
    cases.push(Case::new("fragmented empty message", fragmented(b"", &[0, 0], true), REFUSED));
    // Control frames the server must take in its stride.
    cases.push(Case::new("ping with payload", frame(FIN | PING, b"are you there"), ANSWERED));
    cases.push(Case::new("ping of 125 bytes", frame(FIN | PING, &[b'p'; 125]), ANSWERED));
    cases.push(Case::new("unsolicited pong", frame(FIN | PONG, b"pong"), ANSWERED));
    cases
}

/// Cases that must close the socket, each on its own socket.
fn closing_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let ping = b"{\"type\":\"ping\",\"request_id\":1}";
    // Oversized: one frame, a fragmented message, a binary frame, a length with its top bit set.
    cases.push(Case::new("text frame of 64 KiB + 1", text(vec![b' '; MAX_FRAME + 1]), TOO_BIG));
    let big = format!("{{\"type\":\"ping\",\"request_id\":\"{}\"}}", "y".repeat(MAX_FRAME + 10));
    cases.push(Case::new(
        "fragmented message over 64 KiB",
        fragmented(big.as_bytes(), &[30_000, 60_000], true),
        TOO_BIG,
    ));
    cases.push(Case::new("binary frame over 64 KiB", frame(FIN | BINARY, &vec![0u8; MAX_FRAME + 1]), TOO_BIG));
    cases.push(Case::new(
        "64-bit length with the top bit set",
        frame_with(FIN | TEXT, b"", u64::MAX, false),
        VIOLATION,
    ));
    cases.push(Case::new(
        "declares 64 KiB + 1, sends nothing",
        frame_with(FIN | TEXT, b"", MAX_FRAME as u64 + 1, false),
        TOO_BIG,
    ));
    let mut tib = frame_with(FIN | BINARY, b"", 1 << 40, false);
    tib.extend(vec![b'a'; 1 << 20]);
    cases.push(Case::new("declares 1 TiB, sends 1 MiB of it", tib, TOO_BIG));
    // Protocol violations.
    cases.push(Case::new("continuation without a start", frame(FIN | CONTINUATION, ping), VIOLATION));
    cases.push(Case::new("unfinished continuation without a start", frame(CONTINUATION, ping), VIOLATION));
    let mut interleaved = frame(TEXT, b"{\"type\":");
    interleaved.extend(text(ping));
    cases.push(Case::new("text frame inside a fragmented message", interleaved, VIOLATION));
    let mut binary_inside = frame(TEXT, b"{\"type\":");
    binary_inside.extend(frame(FIN | BINARY, b"\"ping\"}"));
    cases.push(Case::new("binary frame inside a fragmented message", binary_inside, VIOLATION));
    cases.push(Case::new("fragmented ping", frame(PING, b"half"), VIOLATION));
    cases.push(Case::new("ping of 126 bytes", frame(FIN | PING, &[b'p'; 126]), VIOLATION));
    for opcode in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        cases.push(Case::new(format!("reserved opcode {opcode:#x}"), frame(FIN | opcode, ping), VIOLATION));
    }
    cases.push(Case::new("unmasked text frame", frame_with(FIN | TEXT, ping, ping.len() as u64, true), VIOLATION));
    cases.push(Case::new("unmasked ping", frame_with(FIN | PING, b"x", 1, true), VIOLATION));
    // Close frames that break RFC 6455 §5.5.1/§7.4: a 1-byte payload, reserved codes.
    cases.push(Case::new("close with a 1-byte payload", frame(FIN | CLOSE, &[3]), VIOLATION));
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535] {
        cases.push(Case::new(format!("close with code {code}"), close_frame(code, b""), VIOLATION));
    }
    // A valid close frame is answered with a close (README: 1000, the client closed).
    cases.push(Case::new("close 1000", close_frame(1000, b"bye"), Expect::Closed(&[1000])));
    cases.push(Case::new("close 4000 with a reason", close_frame(4000, "é".as_bytes()), Expect::Closed(&[1000])));
    cases.push(Case::new("close without a payload", frame(FIN | CLOSE, b""), Expect::Closed(&[1000])));
    cases
}

/// Frames that carry invalid UTF-8 as text, or set reserved bits: RFC 6455 says the server fails
/// the connection with 1007 (invalid UTF-8, §8.1) or 1002 (reserved bits, §5.2).
fn invalid_utf8_and_reserved_bit_cases(rng: &mut Rng) -> Vec<Case> {
    let mut cases = Vec::new();
    let samples: [&[u8]; 8] = [
        b"\xff",
        b"\xc3",
        b"\xc0\xaf",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xf8\x88\x80\x80\x80",
        b"{\"type\":\"ping\",\"request_id\":\"\xfe\"}",
        b"{\"type\":\"ping\"}\x80",
    ];
    for (i, sample) in samples.iter().enumerate() {
        cases.push(Case::new(format!("invalid UTF-8 text #{i}"), text(sample), VIOLATION));
    }
    for i in 0..4 {
        let mut payload = b"{\"type\":\"ping\",\"request_id\":\"".to_vec();
        let at = rng.below(payload.len());
        payload.insert(at, 0x80 | rng.below(64) as u8);
        payload.extend_from_slice(b"\"}");
        let cuts = [rng.below(payload.len()), rng.below(payload.len())];
        cases.push(Case::new(format!("invalid UTF-8 fragmented #{i}"), fragmented(&payload, &cuts, true), VIOLATION));
    }
    // A character cut short at the end of the last fragment.
    let cut_short = &"{\"x\":\"é".as_bytes()[..7];
    cases.push(Case::new("character cut short at the end", fragmented(cut_short, &[5], false), VIOLATION));
    let ping = b"{\"type\":\"ping\"}";
    for rsv in [0x40u8, 0x20, 0x10] {
        cases.push(Case::new(format!("reserved bit {rsv:#x}"), frame(FIN | rsv | TEXT, ping), VIOLATION));
    }
    cases
}

// ---------------------------------------------------------------------------------------------
// the oracle

/// Asserts `frame` is a documented server frame; true when it is an error frame.
fn assert_documented(frame: &Value, case: &str) -> bool {
    let kind =
        frame.get("type").and_then(Value::as_str).unwrap_or_else(|| panic!("{case}: frame without a type: {frame}"));
    assert!(SERVER_FRAME_TYPES.contains(&kind), "{case}: undocumented frame type: {frame}");
    if kind != "error" {
        return false;
    }
    let code = frame["code"].as_str().unwrap_or_else(|| panic!("{case}: error without a code: {frame}"));
    assert!(ERROR_CODES.contains(&code), "{case}: undocumented error code: {frame}");
    assert!(frame["message"].as_str().is_some_and(|m| !m.is_empty()), "{case}: error without a message: {frame}");
    true
}

async fn write(ws: &mut WsClient, bytes: &[u8]) -> std::io::Result<()> {
    let socket = ws.stream.get_mut();
    socket.write_all(bytes).await?;
    socket.flush().await
}

/// Sends a case, then a `ping` probe, and reads up to the probe's pong: every frame on the way
/// is documented, the socket never closes. Returns how many error frames came.
async fn send_served(ws: &mut WsClient, case: &Case, probe: usize) -> usize {
    let probe_id = json!(format!("probe-{probe}"));
    write(ws, &case.bytes).await.unwrap_or_else(|e| panic!("{}: write failed: {e}", case.name));
    ws.send_json(json!({"type": "ping", "request_id": probe_id})).await;
    let deadline = Instant::now() + WAIT;
    let mut errors = 0;
    loop {
        match read_until(ws, deadline).await {
            Read::Frame(frame) if frame["type"] == "pong" && frame["request_id"] == probe_id => return errors,
            Read::Frame(frame) => {
                if assert_documented(&frame, &case.name) {
                    errors += 1;
                }
            }
            Read::Closed(code) => panic!("{}: bad input closed the socket with {code}", case.name),
            Read::Quiet => panic!("{}: no pong for the probe within {WAIT:?}", case.name),
        }
    }
}

/// Opens a socket for `user`, sends a case that must close it, and returns the close code.
async fn send_closing(app: &TestApp, user: i64, case: &Case) -> Option<u16> {
    let (mut ws, _) = WsClient::open(app, &token(user)).await;
    // The server may close before the whole case is written.
    let _ = write(&mut ws, &case.bytes).await;
    let (code, before) = ws.close_within(WAIT).await;
    for frame in &before {
        assert_documented(frame, &case.name);
    }
    code
}

async fn assert_healthy(app: &TestApp) {
    let (status, body) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (mut fresh, hello) = WsClient::open(app, &token(1)).await;
    assert_eq!(hello["user_id"], 1, "{hello}");
    fresh.send_json(json!({"type": "ping", "request_id": "healthy"})).await;
    assert_eq!(fresh.next_json().await, json!({"type": "pong", "request_id": "healthy"}));
}

/// The node under test: frames are not rate limited (the barrage is hundreds of frames a second
/// on one socket; flooding is abuse.rs's subject).
async fn spawn_node() -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, &[("HERALD_WS_FRAMES_PER_SECOND", "100000")]).await
}

// ---------------------------------------------------------------------------------------------
// the tests

#[actix_web::test]
async fn a_barrage_of_hostile_frames_gets_documented_errors_or_close_codes_and_the_node_stays_healthy() {
    let app = spawn_node().await;
    let mut rng = Rng(SEED);
    app.create_for_self(1, "before the barrage").await;

    let served = served_cases(&mut rng);
    let closing = closing_cases();
    assert!(served.len() + closing.len() >= 300, "a few hundred cases: {}", served.len() + closing.len());

    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    let mut refused = 0;
    for (i, case) in served.iter().enumerate() {
        let errors = send_served(&mut ws, case, i).await;
        if case.expect == REFUSED {
            assert!(errors >= 1, "{}: refused input got no error frame", case.name);
        }
        refused += errors.min(1);
    }
    assert!(refused * 2 > served.len(), "most hostile frames are refused: {refused} of {}", served.len());

    for (i, case) in closing.iter().enumerate() {
        let Expect::Closed(codes) = case.expect else { unreachable!("closing cases close") };
        let code = send_closing(&app, 100 + i as i64, case).await;
        assert!(
            code.is_some_and(|c| codes.contains(&c)),
            "{}: closed with {code:?}, expected one of {codes:?}",
            case.name
        );
    }

    // The barrage's own socket still serves, and so does the node.
    ws.send_json(json!({"type": "ping", "request_id": "after"})).await;
    assert_eq!(ws.next_of_type("pong").await, json!({"type": "pong", "request_id": "after"}));
    assert_healthy(&app).await;
}

#[actix_web::test]
async fn invalid_utf8_and_reserved_bits_close_with_1007_or_1002() {
    let app = spawn_node().await;
    let mut rng = Rng(SEED ^ 0x7554_4638);
    for (i, case) in invalid_utf8_and_reserved_bit_cases(&mut rng).iter().enumerate() {
        let Expect::Closed(codes) = case.expect else { unreachable!("closing cases close") };
        let code = send_closing(&app, 200 + i as i64, case).await;
        assert!(
            code.is_some_and(|c| codes.contains(&c)),
            "{}: closed with {code:?}, expected one of {codes:?}",
            case.name
        );
    }
    assert_healthy(&app).await;
}

#[actix_web::test]
async fn a_frame_declaring_a_huge_length_is_closed_with_1009_at_its_header_not_buffered() {
    // actix-http compares a frame's length with the limit once the whole frame is in; until then
    // the node held every byte sent (256 MiB in under a second, +260 MB of memory, until the
    // heartbeat timeout closed the socket a minute later). Now the header is enough: 1009 at once,
    // and what the client goes on sending is not kept.
    let app = spawn_node().await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    write(&mut ws, &frame_with(FIN | TEXT, b"", 1 << 40, false)).await.expect("send the header");
    let chunk = vec![b'a'; 64 * 1024];
    let streaming = async {
        for _ in 0..1024 {
            if write(&mut ws, &chunk).await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(WAIT, streaming).await;
    let (code, before) = ws.close_within(WAIT).await;
    assert_eq!(code, Some(1009), "frames before the close: {before:?}");
    assert_healthy(&app).await;
}
