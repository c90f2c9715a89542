//! The hardening of the running stack: `/readyz` and `/metrics` off the public side (404 through
//! nginx, absent from the replicas' proxied port, served on their ops listener to the healthcheck
//! and Prometheus), the replicas read-only with no capability, no privilege gain and their
//! memory and process limits (as Docker runs them: `docker inspect`), and Redis refusing a
//! container on the broker network that lacks its password.

use super::fleet::blocking;
use super::sockets::https_client;
use super::STEP;
use crate::helpers::*;
use serde_json::Value;
use std::sync::Arc;

/// Fails the test unless every claim of the module holds for the running stack; prints what it
/// saw.
pub(super) async fn check(stack: &Arc<Stack>) {
    ops_endpoints_are_not_public(stack).await;
    let replicas = blocking(stack, |s| s.containers("herald")).await;
    for replica in &replicas {
        let r = replica.clone();
        blocking(stack, move |s| replica_is_confined(s, &r)).await;
    }
    println!("compose: {} replicas read-only, no capability, no-new-privileges, 1 GiB and 1024 pids", replicas.len());
    blocking(stack, redis_refuses_strangers).await;
}

async fn ops_endpoints_are_not_public(stack: &Arc<Stack>) {
    let client = https_client();
    let base = format!("https://127.0.0.1:{}", stack.https_port);
    for path in ["/readyz", "/metrics"] {
        let answer = request(&client, awc::http::Method::GET, &format!("{base}{path}"), None, None).await;
        match answer {
            Ok((status, body)) if status == 404 && body["error"]["code"] == "not_found" => {}
            other => panic!("{path} through nginx: {other:?}"),
        }
    }
    let replicas = blocking(stack, |s| s.containers("herald")).await;
    for replica in replicas {
        let r = replica.clone();
        let (main, ops) = blocking(stack, move |s| {
            (
                s.inside_at(&r, MAIN_PORT, "/readyz").unwrap_or_else(|e| e),
                s.inside(&r, "/metrics").unwrap_or_else(|e| e),
            )
        })
        .await;
        assert!(main.trim_end().ends_with("404"), "{replica}: /readyz on the proxied port: {main}");
        assert!(ops.trim_end().ends_with("200") && ops.contains("herald_ready"), "{replica}: ops /metrics: {ops}");
    }
    println!("compose: /readyz and /metrics answer 404 through nginx and on port {MAIN_PORT}; the ops listener ({OPS_PORT}) serves them");
}

/// `docker inspect` of `container` as JSON.
fn inspect(stack: &Stack, container: &str) -> Value {
    let out = stack.docker(&["inspect", container], STEP).unwrap_or_else(|e| panic!("{e}"));
    let all: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("docker inspect: {e}: {out}"));
    all[0].clone()
}

fn replica_is_confined(stack: &Stack, replica: &str) {
    let info = inspect(stack, replica);
    let host = &info["HostConfig"];
    assert_eq!(host["ReadonlyRootfs"], true, "{replica}: {host}");
    assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]), "{replica}: {host}");
    assert!(host["CapAdd"].is_null() || host["CapAdd"] == serde_json::json!([]), "{replica}: {host}");
    let security = host["SecurityOpt"].as_array().cloned().unwrap_or_default();
    assert!(security.iter().any(|o| o == "no-new-privileges:true"), "{replica}: {security:?}");
    assert_eq!(host["Memory"].as_u64(), Some(1 << 30), "{replica}: mem_limit");
    assert_eq!(host["PidsLimit"].as_u64(), Some(1024), "{replica}: pids_limit");
    let healthcheck = info["Config"]["Healthcheck"]["Test"].to_string();
    assert!(healthcheck.contains("/readyz") && healthcheck.contains("HERALD_OPS_BIND"), "{replica}: {healthcheck}");

    // As the process sees it: no capability even in its bounding set, no privilege gain, and
    // a root filesystem that refuses writes (only the tmpfs /tmp takes them).
    let status = stack
        .docker(&["exec", replica, "grep", "-E", "^(CapEff|CapBnd|NoNewPrivs):", "/proc/1/status"], STEP)
        .unwrap_or_else(|e| panic!("{e}"));
    for line in ["CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "NoNewPrivs:\t1"] {
        assert!(status.contains(line), "{replica}: {line} in\n{status}");
    }
    let write = stack.docker(&["exec", replica, "sh", "-c", "echo x > /var/lib/herald/probe"], STEP);
    assert!(write.as_ref().is_err_and(|e| e.contains("Read-only file system")), "{replica}: {write:?}");
    stack
        .docker(&["exec", replica, "sh", "-c", "echo x > /tmp/probe && rm /tmp/probe"], STEP)
        .unwrap_or_else(|e| panic!("{replica}: /tmp is writable: {e}"));
}

/// A container on the broker network (the replicas' and Redis' own) without the password gets
/// nothing from Redis but NOAUTH: not a PUBLISH (a forged frame to user 1's sockets), not the
/// list of users with sockets (`PUBSUB CHANNELS`); with it, the same container is answered: the
/// refusal is the password's.
fn redis_refuses_strangers(stack: &Stack) {
    let network = stack.network("broker");
    let cli = |args: &[&str]| {
        let mut all = vec!["run", "--rm", "--network", network.as_str(), "redis:7", "redis-cli", "-h", "redis"];
        all.extend_from_slice(args);
        stack.docker(&all, STEP).unwrap_or_else(|e| e)
    };
    let forged = r#"{"type":"notification","notification":{"id":1,"title":"forged"}}"#;
    for args in [&["PUBLISH", "herald:user:1", forged][..], &["PUBSUB", "CHANNELS"], &["KEYS", "*"]] {
        let answer = cli(args);
        assert!(answer.contains("NOAUTH"), "{args:?} without the password: {answer}");
    }
    let with = cli(&["-a", &stack.redis_password, "--no-auth-warning", "PING"]);
    assert_eq!(with.trim(), "PONG", "the same container with the password");
    println!("compose: on the broker network without Redis' password, PUBLISH, PUBSUB and KEYS get NOAUTH");
}
