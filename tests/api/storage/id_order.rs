//! Per-user ids become visible in increasing order under concurrent writers.

use crate::helpers::*;
use crate::on_both_backends;
use awc::http::StatusCode;
use futures_util::future::join_all;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

on_both_backends!(ids_become_visible_in_increasing_order_under_20_concurrent_writers, |app| {
    const USER: i64 = 7;
    const WRITERS: i64 = 20;
    const EACH: usize = 10;
    const ALL: usize = (WRITERS as usize) * EACH;

    let writers = join_all((0..WRITERS).map(|writer| {
        let app = &app;
        async move {
            let sender = staff_token(100 + writer);
            let mut ids = Vec::with_capacity(EACH);
            for i in 0..EACH {
                let (status, body) = app
                    .post(
                        "/auth/notifications/create/",
                        &sender,
                        json!({"user_id": USER, "title": format!("writer {writer} #{i}")}),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
                assert_eq!(body["notification"]["sender_id"], json!(100 + writer));
                ids.push(body["notification"]["id"].as_i64().expect("id"));
            }
            ids
        }
    }));

    let reader = async {
        let me = token(USER);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = BTreeSet::new();
        let mut highest = 0;
        let mut polls = 0;
        while seen.len() < ALL {
            assert!(Instant::now() < deadline, "saw only {} of {ALL} notifications within 30 s", seen.len());
            let (status, page) = app.get("/auth/notifications/?limit=200", &me).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let ids = ids_of(&page);
            assert!(ids.windows(2).all(|w| w[0] > w[1]), "page is newest first: {ids:?}");
            for id in &ids {
                if !seen.contains(id) {
                    assert!(
                        *id > highest,
                        "poll {polls}: id {id} became visible after id {highest} had already been seen"
                    );
                }
            }
            assert!(seen.iter().all(|id| ids.contains(id)), "poll {polls}: a notification seen earlier vanished");
            seen.extend(ids.iter().copied());
            highest = seen.last().copied().unwrap_or(0);
            polls += 1;
        }
        (seen, polls)
    };

    let (created, (seen, polls)) = futures_util::future::join(writers, reader).await;
    let created: BTreeSet<i64> = created.into_iter().flatten().collect();
    assert_eq!(created.len(), ALL, "every create returned its own id");
    assert_eq!(seen, created, "the reader saw exactly the created ids (after {polls} polls)");

    let page = list(&app, USER, "?limit=200").await;
    assert_eq!(page["total"], json!(ALL), "{}", page["total"]);
    assert_eq!(page["unread_count"], json!(ALL));
    assert_eq!(unread_count(&app, USER).await, ALL as i64);
});
