//! Operations endpoints: `/healthz` (the process answers) and `/readyz` (its dependencies do).

use crate::broker::Broker;
use crate::dispatch;
use crate::inbox::Inbox;
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::time::Duration;

const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// 200 when the database and the broker (Redis publisher and subscriber) answer, else 503
/// naming what failed.
pub async fn readyz(inbox: web::Data<Inbox>, broker: web::Data<Broker>) -> HttpResponse {
    let probe = inbox.db().run(|conn| Ok(dispatch!(conn, ping())?));
    let database = match tokio::time::timeout(READINESS_TIMEOUT, probe).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(err)) => format!("unavailable: {}", err.code()),
        Err(_) => "unavailable: timed out".to_owned(),
    };
    let mut ready = database == "ok";
    let mut checks = serde_json::Map::new();
    checks.insert("database".into(), json!(database));
    for (name, ok) in broker.checks().await {
        ready &= ok;
        checks.insert(name.into(), json!(if ok { "ok" } else { "unavailable" }));
    }
    let body = json!({ "status": if ready { "ok" } else { "unavailable" }, "checks": checks });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
