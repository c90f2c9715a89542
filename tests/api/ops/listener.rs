//! `HERALD_OPS_BIND` moves the ops endpoints (`/metrics`, `/readyz`) to a listener of their own.

use crate::helpers::*;
use awc::http::{Method, StatusCode};

#[actix_web::test]
async fn ops_bind_serves_metrics_and_readyz_on_their_own_listener_only() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("HERALD_OPS_BIND", "127.0.0.1:0")]).await;
    let ops = app.ops_port.expect("an ops listener");
    for path in ["/metrics", "/readyz"] {
        let (status, _, _) = app.raw(Method::GET, path, &[], Vec::new()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} is not on the public port");
        let mut res = app.client.get(format!("http://127.0.0.1:{ops}{path}")).send().await.expect("ops listener");
        assert_eq!(res.status(), StatusCode::OK, "{path} on the ops port");
        let body = res.body().await.expect("body");
        if path == "/metrics" {
            assert!(String::from_utf8_lossy(&body).contains("herald_"), "metrics text");
        }
    }
    let (status, _) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "healthz stays on the public port");
    let (status, _) = app.get("/auth/notifications/", &token(1)).await;
    assert_eq!(status, StatusCode::OK);
}
