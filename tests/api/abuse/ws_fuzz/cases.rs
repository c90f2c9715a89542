//! The hostile frames and what each must get.

use super::wire::{
    close_frame, fragmented, frame, frame_with, text, BINARY, CLOSE, CONTINUATION, FIN, PING, PONG, TEXT,
};
use serde_json::json;

/// The largest client frame or message (README: over 64 KiB closes with 1009).
const MAX_FRAME: usize = 64 * 1024;

/// Close codes a protocol violation or an oversized frame may get (README close-code table and
/// RFC 6455 §7.4.1).
const VIOLATION_CLOSE_CODES: [u16; 5] = [1002, 1003, 1007, 1008, 1009];

/// SplitMix64: small, seeded, the same on every platform.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub(super) fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// What the server must do with a case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Expect {
    /// Answer it (an error frame or a reply) and keep the socket; at least one error frame when
    /// `error`.
    Served { error: bool },
    /// Close the socket with one of these codes.
    Closed(&'static [u16]),
}

pub(super) struct Case {
    pub(super) name: String,
    pub(super) bytes: Vec<u8>,
    pub(super) expect: Expect,
}

impl Case {
    pub(super) fn new(name: impl Into<String>, bytes: Vec<u8>, expect: Expect) -> Case {
        Case { name: name.into(), bytes, expect }
    }
}

pub(super) const REFUSED: Expect = Expect::Served { error: true };

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
pub(super) fn served_cases(rng: &mut Rng) -> Vec<Case> {
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
pub(super) fn closing_cases() -> Vec<Case> {
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
pub(super) fn invalid_utf8_and_reserved_bit_cases(rng: &mut Rng) -> Vec<Case> {
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
