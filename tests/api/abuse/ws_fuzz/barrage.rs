//! The fuzz runs against a live node.

use super::cases::{closing_cases, invalid_utf8_and_reserved_bit_cases, served_cases, Expect, Rng, REFUSED};
use super::oracle::{assert_healthy, send_closing, send_served, spawn_node, write};
use super::wire::{frame_with, FIN, TEXT};
use crate::helpers::*;
use serde_json::json;

/// The barrage is the same on every run: its cases come from this seed.
const SEED: u64 = 0x4865_7261_6c64_1414;

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
