//! `/metrics` in the Prometheus text format reflects what the node did.

use crate::helpers::*;
use awc::http::{Method, StatusCode};

async fn scrape(app: &TestApp) -> String {
    let mut res = app.client.get(app.url("/metrics")).send().await.expect("scrape");
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    String::from_utf8(res.body().await.expect("body").to_vec()).expect("utf-8")
}

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

    let text = scrape(&app).await;
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
        let text = scrape(&app).await;
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
