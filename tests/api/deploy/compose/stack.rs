//! The test: the stack up, selftest through nginx, then every drill.

use super::creators::Creators;
use super::drill::drill;
use super::fleet::{
    blocking, busiest_replica, docker, scale, sockets_per_replica, wait_prometheus_targets, wait_replicas_ready, Fleet,
};
use super::hardening;
use super::sockets::{cert_path, https_client};
use super::{STACK_SECRET, STEP};
use crate::helpers::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Users with sockets at the start, and sockets per user (three tabs each).
const USERS: i64 = 120;

const TABS: usize = 3;

/// Users whose sockets open once the stack has 5 replicas (nginx must spread them over all 5).
const LATE_USERS: i64 = 50;

/// Every bound of the test: a stack and a drill each have one.
const BUILD: Duration = Duration::from_secs(1800);

/// How long a replica stays cut off from Redis.
const PARTITION: Duration = Duration::from_secs(10);

#[actix_web::test]
#[ignore = "needs a Docker Engine and builds images (minutes); .ci/run runs it"]
async fn compose_stack_serves_through_nginx_and_loses_nothing_through_every_drill() {
    if !cert_path().exists() {
        run_bounded("bash", &["deploy/gen-dev-cert.sh"], &[], std::path::Path::new(env!("CARGO_MANIFEST_DIR")), STEP)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let ports = candidate_ports(3);
    let stack =
        Arc::new(Stack::new(&format!("heralde2e{}", std::process::id()), ports[0], ports[1], ports[2], &STACK_SECRET));

    let started = Instant::now();
    blocking(&stack, |s| s.compose(&["build"], BUILD)).await.unwrap_or_else(|e| panic!("{e}"));
    let built = started.elapsed();
    let started = Instant::now();
    blocking(&stack, |s| s.compose(&["up", "-d"], STEP)).await.unwrap_or_else(|e| panic!("{e}"));
    wait_replicas_ready(&stack, 3, "up").await;
    let base = format!("https://127.0.0.1:{}", stack.https_port);
    let client = https_client();
    // The replicas are ready (their ops listener said so); nginx serves the public side.
    wait_for("nginx answers /healthz over https", STEP, async || {
        match request(&client, awc::http::Method::GET, &format!("{base}/healthz"), None, None).await {
            Ok((status, _)) if status == 200 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    println!(
        "compose: images built in {:.1}s, stack up and ready through nginx in {:.1}s",
        built.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    // The operator's check of a deployment, through nginx over https and wss.
    let selftest = {
        let (url, cert) = (base.clone(), cert_path().display().to_string());
        actix_web::rt::task::spawn_blocking(move || {
            run_herald(
                &std::env::temp_dir(),
                &["selftest", "--url", &url, "--user", "999999"],
                &[("RUST_LOG", "warn"), ("JWT_SECRET", &STACK_SECRET), ("SSL_CERT_FILE", &cert)],
            )
        })
        .await
        .expect("blocking task")
    };
    let printed = String::from_utf8_lossy(&selftest.stdout);
    assert!(
        selftest.status.success(),
        "selftest through nginx:\n{printed}\n{}",
        String::from_utf8_lossy(&selftest.stderr)
    );
    println!("compose: herald selftest through nginx: {}", printed.lines().last().unwrap_or(""));

    let prometheus = awc::Client::default();
    let scraped = wait_prometheus_targets(&prometheus, stack.prometheus_port, 3).await;
    let rules = request(
        &prometheus,
        awc::http::Method::GET,
        &format!("http://127.0.0.1:{}/api/v1/rules", stack.prometheus_port),
        None,
        None,
    )
    .await
    .expect("Prometheus rules");
    let loaded: usize = rules.1["data"]["groups"]
        .as_array()
        .map_or(0, |g| g.iter().map(|g| g["rules"].as_array().map_or(0, Vec::len)).sum());
    assert!(loaded >= 5, "Prometheus loaded the alert rules: {}", rules.1);
    println!(
        "compose: Prometheus scrapes all 3 replicas ({:.1}s after ready), {loaded} alert rules loaded",
        scraped.as_secs_f64()
    );

    hardening::check(&stack).await;

    let mut fleet = Fleet::new(stack.https_port);
    fleet.open(1..=USERS, TABS);
    let opened = fleet.wait_all_connected("open").await;
    let per_replica: Vec<i64> = sockets_per_replica(&stack).await.into_iter().map(|(_, n)| n).collect();
    println!(
        "compose: {} sockets open through nginx in {:.1}s, per replica {per_replica:?}",
        fleet.sockets.len(),
        opened.as_secs_f64()
    );
    let creators = Creators::start(stack.https_port, (1..=USERS).collect());
    let mut reports = Vec::new();

    reports.push(
        drill("steady (no fault)", &fleet, &creators, 0..=0, actix_web::rt::time::sleep(Duration::from_secs(5))).await,
    );

    let (victim, held) = busiest_replica(&stack).await;
    reports.push(
        drill(&format!("docker kill ({held} sockets)"), &fleet, &creators, held as usize..=held as usize, async {
            docker(&stack, &["kill", &victim]).await;
        })
        .await,
    );
    // `restart: unless-stopped` does not bring back a container `docker kill` stopped: the
    // operator (or an orchestrator) starts it again.
    let v = victim.clone();
    let state = blocking(&stack, move |s| s.state(&v)).await;
    println!("compose: the killed replica is `{state}` afterwards; starting it again");
    if !state.starts_with("running") {
        docker(&stack, &["start", &victim]).await;
    }
    wait_replicas_ready(&stack, 3, "after the kill").await;

    let all = fleet.sockets.len();
    reports.push(
        drill("rolling restart (3, one by one)", &fleet, &creators, all..=all, async {
            for replica in blocking(&stack, |s| s.containers("herald")).await {
                docker(&stack, &["restart", "-t", "15", &replica]).await;
                wait_replicas_ready(&stack, 3, &format!("after restarting {replica}")).await;
            }
        })
        .await,
    );

    let before: Vec<String> = blocking(&stack, |s| s.containers("herald")).await;
    reports.push(drill("scale 3 -> 5", &fleet, &creators, 0..=0, scale(&stack, 5)).await);
    // New sockets through the unchanged nginx reach the new replicas: it asks Docker's DNS.
    fleet.open(USERS + 1..=USERS + LATE_USERS, 1);
    fleet.wait_all_connected("late users").await;
    creators.users.borrow_mut().extend(USERS + 1..=USERS + LATE_USERS);
    let now = sockets_per_replica(&stack).await;
    println!("compose: after scaling to 5 and {LATE_USERS} new sockets, per replica {now:?}");
    let new: Vec<&(String, i64)> = now.iter().filter(|(c, _)| !before.contains(c)).collect();
    assert_eq!(new.len(), 2, "two new replicas: {now:?}");
    assert!(new.iter().all(|(_, n)| *n > 0), "nginx sends new sockets to the new replicas without a reload: {now:?}");
    let scraped = wait_prometheus_targets(&prometheus, stack.prometheus_port, 5).await;
    println!("compose: Prometheus scrapes all 5 replicas {:.1}s later (DNS service discovery)", scraped.as_secs_f64());

    reports.push(drill("scale 5 -> 2", &fleet, &creators, 1..=fleet.sockets.len(), scale(&stack, 2)).await);
    wait_prometheus_targets(&prometheus, stack.prometheus_port, 2).await;

    for service in ["redis", "postgres"] {
        reports.push(
            drill(&format!("{service} restarted"), &fleet, &creators, 0..=0, async {
                let container = blocking(&stack, move |s| s.containers(service).pop()).await.expect("its container");
                docker(&stack, &["restart", "-t", "10", &container]).await;
                wait_replicas_ready(&stack, 2, &format!("after {service} restarted")).await;
            })
            .await,
        );
    }

    let (cut, held) = busiest_replica(&stack).await;
    reports.push(
        drill(&format!("replica cut from Redis 10s ({held} sockets)"), &fleet, &creators, 0..=0, async {
            docker(&stack, &["network", "disconnect", &stack.network("broker"), &cut]).await;
            let cut_at = Instant::now();
            // The cut is real: the replica itself sees Redis gone (its /readyz names it) while
            // nginx still reaches it.
            let noticed = wait_for("the cut replica's /readyz turns 503 naming Redis", PARTITION, async || {
                let c = cut.clone();
                match blocking(&stack, move |s| s.inside(&c, "/readyz")).await {
                    Ok(out) if out.trim_end().ends_with("503") && out.to_lowercase().contains("redis") => {
                        Ok(cut_at.elapsed())
                    }
                    other => Err(format!("{other:?}")),
                }
            })
            .await;
            println!(
                "compose: the replica cut from Redis answered /readyz 503 (Redis) {:.1}s after the cut",
                noticed.as_secs_f64()
            );
            actix_web::rt::time::sleep(PARTITION.saturating_sub(cut_at.elapsed())).await;
            docker(&stack, &["network", "connect", &stack.network("broker"), &cut]).await;
            wait_replicas_ready(&stack, 2, "after the partition healed").await;
        })
        .await,
    );

    let total: usize = creators.created.borrow().answered_at.len();
    creators.close().await;
    fleet.close().await;
    println!("compose: {total} notifications created through nginx; every socket had every one of its user's exactly once, in order, after each drill");
    println!("compose: figures");
    for report in &reports {
        println!("  {report}");
    }
}
