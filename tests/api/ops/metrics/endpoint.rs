//! `/metrics` in the Prometheus text format reflects what the node did; readiness per dependency.

use crate::helpers::*;
use awc::http::{Method, StatusCode};

/// The value of the first sample whose line starts with `prefix` (name and labels).
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .find(|line| labels.iter().all(|l| line.contains(l)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} {labels:?} in:\n{text}"))
}

#[actix_web::test]
async fn metrics_count_requests_sockets_deliveries_and_closes() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    app.create_for_self(1, "counted").await;
    ws.next_of_type("notification").await;
    let (status, _) = app.call(Method::GET, "/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let text = app.metrics_text().await;
    assert_eq!(sample(&text, "herald_open_sockets", &[]), 1.0);
    assert_eq!(sample(&text, "herald_notifications_delivered_total", &[]), 1.0);
    assert_eq!(sample(&text, "herald_publish_to_delivery_seconds_count", &[]), 1.0);
    assert_eq!(
        sample(&text, "herald_http_requests_total", &["route=\"/auth/notifications/create\"", "status=\"201\""]),
        1.0
    );
    assert_eq!(sample(&text, "herald_http_requests_total", &["route=\"unmatched\"", "status=\"404\""]), 1.0);
    assert!(sample(&text, "herald_db_pool_connections", &["state=\"idle\""]) >= 1.0);
    assert!(sample(&text, "herald_db_pool_wait_seconds_count", &[]) >= 1.0);
    assert_eq!(sample(&text, "herald_group_commit_batch_size_count", &[]), 1.0, "one create, one batch");
    assert_eq!(sample(&text, "herald_group_commit_batch_size_sum", &[]), 1.0);
    assert!(text.contains("node=\""), "every sample names its node");

    ws.send_text(&"x".repeat(70 * 1024)).await;
    let (code, _) = ws.expect_close().await;
    assert_eq!(code, 1009);
    wait_for("the close counted", WAIT, async || {
        let text = app.metrics_text().await;
        let closed = text
            .lines()
            .any(|l| l.starts_with("herald_sockets_closed_total") && l.contains("code=\"1009\"") && l.ends_with(" 1"));
        if closed && sample(&text, "herald_open_sockets", &[]) == 0.0 {
            Ok(())
        } else {
            Err(format!("\n{text}"))
        }
    })
    .await;
}

#[actix_web::test]
async fn readiness_is_exported_per_dependency_and_alerted_close_codes_from_the_start() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let text = app.metrics_text().await;
    assert_eq!(sample(&text, "herald_ready", &["dependency=\"database\""]), 1.0);
    assert_eq!(sample(&text, "herald_ready", &["dependency=\"broker\""]), 1.0, "the in-process broker");
    for code in ["1011", "1013"] {
        let label = format!("code=\"{code}\"");
        assert_eq!(sample(&text, "herald_sockets_closed_total", &[&label]), 0.0, "{code} exported before any close");
    }
}

#[actix_web::test]
async fn readiness_follows_redis() {
    let mut redis = RedisServer::start();
    let app = TestApp::spawn_with(Backend::Postgres, &[("REDIS_URL", &redis.url())]).await;
    let up = |text: &str, dependency: &str| sample(text, "herald_ready", &[&format!("dependency=\"{dependency}\"")]);
    wait_for("the Redis checks ready", WAIT, async || {
        let text = app.metrics_text().await;
        let all = ["database", "redis_publisher", "redis_subscriber"].map(|d| up(&text, d));
        if all == [1.0; 3] {
            Ok(())
        } else {
            Err(format!("{all:?}"))
        }
    })
    .await;
    assert!(!app.metrics_text().await.contains("dependency=\"broker\""), "no in-process broker beside Redis");

    redis.stop();
    wait_for("Redis unavailable in herald_ready", WAIT, async || {
        let text = app.metrics_text().await;
        if up(&text, "redis_publisher") == 0.0 && up(&text, "redis_subscriber") == 0.0 && up(&text, "database") == 1.0 {
            Ok(())
        } else {
            Err(text)
        }
    })
    .await;
}

#[actix_web::test]
async fn readiness_follows_the_database() {
    let (proxy, app) = node_behind_db_proxy(&[("HERALD_DB_TIMEOUT_MS", "500")]).await;
    assert_eq!(sample(&app.metrics_text().await, "herald_ready", &["dependency=\"database\""]), 1.0);

    proxy.cut();
    // The probe of the last second may be reused (`ReadinessProbe`): the cut shows within it.
    let text = wait_for("the database unavailable in herald_ready", WAIT, async || {
        let text = app.metrics_text().await;
        if sample(&text, "herald_ready", &["dependency=\"database\""]) == 0.0 {
            Ok(text)
        } else {
            Err(text)
        }
    })
    .await;
    assert_eq!(sample(&text, "herald_ready", &["dependency=\"broker\""]), 1.0);

    proxy.restore();
    wait_for("the database ready again", WAIT, async || {
        let ready = sample(&app.metrics_text().await, "herald_ready", &["dependency=\"database\""]);
        if ready == 1.0 {
            Ok(())
        } else {
            Err(ready)
        }
    })
    .await;
}
