//! `herald send` and `herald selftest` against real nodes.

use crate::helpers::*;
use std::process::Output;

/// Runs the binary off the test's runtime thread (the nodes' tasks keep running meanwhile).
async fn herald(args: &[&str], secret: Option<&str>) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let secret = secret.map(str::to_owned);
    actix_web::rt::task::spawn_blocking(move || {
        let mut vars = vec![("RUST_LOG", "warn")];
        vars.extend(secret.as_deref().map(|secret| ("JWT_SECRET", secret)));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_herald(&std::env::temp_dir(), &args, &vars)
    })
    .await
    .expect("blocking task")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[actix_web::test]
async fn selftest_passes_against_a_two_node_cluster() {
    let (_db, _redis, nodes) = cluster(2, &[]).await;
    for node in &nodes {
        let out = herald(&["selftest", "--url", &node.base_url, "--user", "42"], Some(SECRET)).await;
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "selftest failed:\n{stdout}\n{}", text(&out.stderr));
        assert!(!stdout.contains("FAIL"), "{stdout}");
        let passes = stdout.lines().filter(|l| l.starts_with("PASS")).count();
        assert!(passes >= 12, "every check ran:\n{stdout}");
        assert!(stdout.contains("admin console served (/admin/)"), "{stdout}");
        assert!(
            stdout.contains("PASS") && stdout.contains("SSE stream: live push, resume by Last-Event-ID"),
            "{stdout}"
        );
        assert!(stdout.contains("0 failed"), "{stdout}");
    }
    let (_, list) = nodes[0].get("/auth/notifications/", &token(42)).await;
    assert_eq!(list["total"], 0, "the selftest cleaned up after itself: {list}");
    let (_, prefs) = nodes[0].get("/auth/notifications/preferences/", &token(42)).await;
    assert_eq!(prefs["preferences"]["mom_created"]["enabled"], true, "preference restored");
}

#[actix_web::test]
async fn selftest_fails_clearly_against_a_dead_url_or_a_refused_token() {
    // A port nothing listens on: the kernel's free port, released at once (held, it would
    // accept connections and not be dead).
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let out = herald(&["selftest", "--url", &format!("http://127.0.0.1:{dead_port}")], Some(SECRET)).await;
    assert!(!out.status.success());
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("FAIL") && all.contains("cannot reach"), "{all}");
    assert!(!all.contains("panicked"), "{all}");

    let app = TestApp::spawn(Backend::Sqlite).await;
    let out = herald(&["selftest", "--url", &app.base_url], Some("another-secret-entirely-0123456789")).await;
    assert!(!out.status.success());
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("refused the token"), "{all}");

    let out = herald(&["selftest", "--url", &app.base_url], None).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("JWT_SECRET"), "{}", text(&out.stderr));
}

#[actix_web::test]
async fn send_creates_a_notification_and_prints_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let out = herald(
        &[
            "send",
            "--url",
            &app.base_url,
            "--user",
            "7",
            "--title",
            "Deploy done",
            "--message",
            "v2 is live",
            "--type",
            "action_item",
            "--data",
            r#"{"build": 12}"#,
            "--link",
            "https://ci.example.com/12",
        ],
        Some(SECRET),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("prints the notification as JSON");
    assert_eq!(printed["title"], "Deploy done");
    assert_eq!(printed["data"]["build"], 12);
    let (_, list) = app.get("/auth/notifications/", &token(7)).await;
    assert_eq!(list["notifications"][0], printed);

    let out =
        herald(&["send", "--url", &app.base_url, "--user", "7", "--title", "x", "--data", "[1]"], Some(SECRET)).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("data"), "{}", text(&out.stderr));
}
