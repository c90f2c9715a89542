//! Tokens from an identity provider's JWKS (`JWT_JWKS_URL`), against a JWKS server in the test
//! that counts its requests and can rotate its keys or go down: keys chosen by `kid`, rotation
//! without restart, refetches on unknown `kid`s bounded by the cool-down, cached keys through an
//! outage (with `/readyz` and the metrics saying so), HS256 refused, `JWT_USER_CLAIM`.

use super::claims;
use crate::helpers::*;
use actix_web::{web, App, HttpResponse, HttpServer};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const COUNT: &str = "/auth/notifications/unread-count/";

/// A signing key of the provider: its `kid`, algorithm and private key.
#[derive(Clone)]
struct SigningKey {
    kid: &'static str,
    algorithm: Algorithm,
    private: EncodingKey,
}

impl SigningKey {
    fn new(dir: &std::path::Path, kid: &'static str, algorithm: Algorithm) -> SigningKey {
        let path = dir.join(format!("{kid}.pem"));
        let out = path.to_str().expect("utf-8 temp path");
        let args: &[&str] = match algorithm {
            Algorithm::ES256 => &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", out],
            _ => &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", out],
        };
        let output = std::process::Command::new("openssl").args(args).output().expect("the openssl CLI runs");
        assert!(output.status.success(), "openssl: {}", String::from_utf8_lossy(&output.stderr));
        let pem = std::fs::read(&path).expect("read key");
        let private = match algorithm {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).expect("EC key"),
            _ => EncodingKey::from_rsa_pem(&pem).expect("RSA key"),
        };
        SigningKey { kid, algorithm, private }
    }

    /// The public half as the provider publishes it.
    fn jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.private, self.algorithm).expect("public JWK");
        jwk.common.key_id = Some(self.kid.to_owned());
        jwk
    }

    /// `claims` signed with this key, its `kid` in the header (or `kid` instead when given).
    fn sign(&self, claims: &Value, kid: Option<&str>) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(kid.unwrap_or(self.kid).to_owned());
        jsonwebtoken::encode(&header, claims, &self.private).expect("sign")
    }
}

/// The provider's JWKS endpoint: serves `keys` while `up`, else 503; counts every request.
struct Provider {
    keys: Mutex<Vec<Jwk>>,
    up: AtomicBool,
    requests: AtomicUsize,
    url: String,
}

impl Provider {
    async fn start(keys: &[&SigningKey]) -> Arc<Provider> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let provider = Arc::new(Provider {
            keys: Mutex::new(keys.iter().map(|k| k.jwk()).collect()),
            up: AtomicBool::new(true),
            requests: AtomicUsize::new(0),
            url: format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
        });
        let state = web::Data::from(provider.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(state.clone()).route(
                "/.well-known/jwks.json",
                web::get().to(|provider: web::Data<Provider>| async move {
                    provider.requests.fetch_add(1, Ordering::SeqCst);
                    if !provider.up.load(Ordering::SeqCst) {
                        return HttpResponse::ServiceUnavailable().finish();
                    }
                    let keys = provider.keys.lock().expect("keys").clone();
                    HttpResponse::Ok().json(JwkSet { keys })
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        provider
    }

    fn serve(&self, keys: &[&SigningKey]) {
        *self.keys.lock().expect("keys") = keys.iter().map(|k| k.jwk()).collect();
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn node(provider: &Provider, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![("JWT_JWKS_URL", provider.url.as_str())];
    env.extend_from_slice(extra);
    let app = TestApp::spawn_with(Backend::Sqlite, &env).await;
    wait_until("the node fetched the JWKS at start", WAIT, async || provider.requests() >= 1).await;
    app
}

async fn status_of(app: &TestApp, token: &str) -> u16 {
    app.get(COUNT, token).await.0.as_u16()
}

#[actix_web::test]
async fn keys_are_chosen_by_kid_and_a_rotated_key_is_taken_without_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (k1, k2) =
        (SigningKey::new(dir.path(), "k1", Algorithm::ES256), SigningKey::new(dir.path(), "k2", Algorithm::RS256));
    let provider = Provider::start(&[&k1]).await;
    let app = node(&provider, &[("JWT_JWKS_COOLDOWN_SECONDS", "1")]).await;
    assert_eq!(status_of(&app, &k1.sign(&claims(1), None)).await, 200, "ES256 by kid k1");
    assert_eq!(status_of(&app, &sign(&claims(1))).await, 401, "HS256 is never accepted with a JWKS");
    let forged_kid = k2.sign(&claims(1), Some("k1"));
    assert_eq!(status_of(&app, &forged_kid).await, 401, "an RS256 token naming the ES256 key's kid");
    // The provider rotates to k2: the node learns it on the first token naming it, after the cool-down.
    provider.serve(&[&k2]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = provider.requests();
    assert_eq!(status_of(&app, &k2.sign(&claims(2), None)).await, 200, "the new kid, without a restart");
    assert_eq!(provider.requests(), before + 1, "one refetch for the new kid");
    assert_eq!(status_of(&app, &k2.sign(&claims(2), None)).await, 200);
    assert_eq!(provider.requests(), before + 1, "a known kid costs no fetch");
    assert_eq!(status_of(&app, &k1.sign(&claims(1), None)).await, 401, "the removed key is gone");
    // A WebSocket handshake and an SSE stream verify the same way.
    let ws = WsClient::try_connect(
        &format!("ws://127.0.0.1:{}/ws/notifications/?token={}", app.port, k2.sign(&claims(2), None)),
        &[],
    )
    .await;
    assert!(ws.is_ok(), "WebSocket handshake with a JWKS token");
}

#[actix_web::test]
async fn unknown_kids_refetch_at_most_once_per_cool_down() {
    let dir = tempfile::tempdir().expect("temp dir");
    let k1 = SigningKey::new(dir.path(), "k1", Algorithm::ES256);
    let provider = Provider::start(&[&k1]).await;
    let app = node(&provider, &[]).await; // the default cool-down: 30 s
    let started = std::time::Instant::now();
    for i in 0..50 {
        let kid = format!("made-up-{i}");
        assert_eq!(status_of(&app, &k1.sign(&claims(1), Some(&kid))).await, 401, "{kid}");
    }
    let cool_downs = started.elapsed().as_secs() / 30;
    let fetched = provider.requests();
    assert!(
        fetched <= 1 + 1 + cool_downs as usize,
        "{fetched} fetches for 50 unknown kids within {:?} (the start's, then one per 30 s cool-down at most)",
        started.elapsed()
    );
    assert_eq!(status_of(&app, &k1.sign(&claims(1), None)).await, 200, "the real key still works");
}

#[actix_web::test]
async fn an_outage_of_the_provider_keeps_the_cached_keys_and_shows_in_readyz_and_metrics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let k1 = SigningKey::new(dir.path(), "k1", Algorithm::RS256);
    let provider = Provider::start(&[&k1]).await;
    let app = node(&provider, &[("JWT_JWKS_REFRESH_SECONDS", "1"), ("JWT_JWKS_COOLDOWN_SECONDS", "1")]).await;
    assert_eq!(status_of(&app, &k1.sign(&claims(1), None)).await, 200);
    provider.up.store(false, Ordering::SeqCst);
    let readyz = wait_for("/readyz to report the failing fetches", WAIT, async || {
        let (status, body) = app.get("/readyz", "").await;
        let jwks = body["checks"]["jwks"].as_str().unwrap_or_default().to_owned();
        if status == 200 && jwks.starts_with("ok: serving keys fetched") {
            Ok(jwks)
        } else {
            Err(format!("{status} {body}"))
        }
    })
    .await;
    assert!(readyz.contains("answered 503"), "{readyz}");
    assert_eq!(status_of(&app, &k1.sign(&claims(1), None)).await, 200, "cached keys through the outage");
    let metrics = app.metrics_text().await;
    let line = |name: &str| metrics.lines().filter(|l| l.starts_with(name)).collect::<Vec<_>>().join("\n");
    assert!(line("herald_jwks_keys").ends_with(" 1"), "{}", line("herald_jwks_keys"));
    assert!(line("herald_jwks_fetches_total").contains("result=\"error\""), "{}", line("herald_jwks_fetches_total"));
}

#[actix_web::test]
async fn a_node_started_while_the_provider_is_down_is_unready_until_it_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let k1 = SigningKey::new(dir.path(), "k1", Algorithm::ES256);
    let provider = Provider::start(&[&k1]).await;
    provider.up.store(false, Ordering::SeqCst);
    let app = node(&provider, &[("JWT_JWKS_COOLDOWN_SECONDS", "1")]).await;
    let (status, body) = app.get("/readyz", "").await;
    assert_eq!(status.as_u16(), 503, "{body}");
    assert!(body["checks"]["jwks"].as_str().unwrap_or_default().starts_with("unavailable: no keys yet"), "{body}");
    assert_eq!(status_of(&app, &k1.sign(&claims(1), None)).await, 401, "no keys, no token");
    provider.up.store(true, Ordering::SeqCst);
    wait_until("a token is accepted once the provider answers", WAIT, async || {
        status_of(&app, &k1.sign(&claims(1), None)).await == 200
    })
    .await;
    wait_readyz(&app, actix_web::http::StatusCode::OK).await;
}

#[actix_web::test]
async fn the_user_id_comes_from_the_configured_claim_and_iss_aud_still_apply() {
    let dir = tempfile::tempdir().expect("temp dir");
    let k1 = SigningKey::new(dir.path(), "k1", Algorithm::ES256);
    let provider = Provider::start(&[&k1]).await;
    let env = [("JWT_USER_CLAIM", "https://app.example.com/user_id"), ("JWT_ISSUER", "https://idp.example.com/")];
    let app = node(&provider, &env).await;
    let exp = now_secs() + 3600;
    let of = |user: Value, issuer: &str| {
        k1.sign(&json!({"sub": "auth0|5f1e", "https://app.example.com/user_id": user, "iss": issuer, "exp": exp}), None)
    };
    let sender = k1.sign(
        &json!({"https://app.example.com/user_id": 1, "scope": "notifications:send", "iss": "https://idp.example.com/", "exp": exp}),
        None,
    );
    let created = app
        .post(
            "/auth/notifications/create/",
            &sender,
            json!({"user_id": 42, "notification_type": "general", "title": "t", "message": "m"}),
        )
        .await;
    assert_eq!(created.0.as_u16(), 201, "{:?}", created.1);
    let (status, body) = app.get("/auth/notifications/", &of(json!(42), "https://idp.example.com/")).await;
    assert_eq!((status.as_u16(), body["total"].clone()), (200, json!(1)), "user 42 from the custom claim: {body}");
    let (status, _) = app.get(COUNT, &of(json!("42"), "https://idp.example.com/")).await;
    assert_eq!(status.as_u16(), 200, "a string of digits is an id too");
    assert_eq!(status_of(&app, &of(json!("auth0|x"), "https://idp.example.com/")).await, 401, "not an integer id");
    assert_eq!(status_of(&app, &of(json!(42), "https://other.example.com/")).await, 401, "another issuer");
}
