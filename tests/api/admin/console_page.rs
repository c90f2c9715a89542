//! The admin console at `/admin/` in headless chromium, driven over WebDriver as an operator would,
//! on two nodes sharing a database and a Redis: sign in with a staff token (kept in session
//! storage, never in the URL; the page works under the node's strict Content-Security-Policy),
//! filter notifications by user, state, type and words, open one and mark it read (the owner's
//! socket on the other node is told); a user's page lists their live sockets on both nodes and
//! "Disconnect all" closes them with 4003; the cluster page lists both nodes. Screenshots of the
//! notifications table, a user's page and the cluster page go to target/test-artifacts/admin-*.png
//! (with HERALD_UPDATE_SCREENSHOT=1 also to docs/, the README's pictures).

use crate::helpers::*;
use awc::http::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The staff member at the console.
const STAFF: i64 = 42;
/// Where the seeded notifications come from (a staff sender: it may create for others).
const SENDER: i64 = 100;
/// The names of the two nodes (`NODE_ID`), so that pages tell them apart as in production.
const NODES: [&str; 2] = ["herald-a", "herald-b"];
/// The rows the notifications table shows on sign-in.
const SEEDED: i64 = 12;
/// The rows of the user page's socket table.
const SOCKET_ROWS: &str = "#user-sockets tbody tr[data-node]";
/// The rows of the cluster page's node table.
const NODE_ROWS: &str = "#cluster-nodes tbody tr[data-node]";

/// Two nodes named `NODES` on a fresh database and a private Redis, each ready. Keep the guards.
async fn two_nodes() -> (TestDb, RedisServer, Vec<TestApp>) {
    let db = TestDb::new();
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let mut nodes = Vec::new();
    for name in NODES {
        let vars = [("REDIS_URL", redis_url.as_str()), ("NODE_ID", name)];
        nodes.push(TestApp::spawn_on(DbGuard::None, &db.url, &vars).await);
    }
    for node in &nodes {
        wait_ready(node).await;
    }
    (db, redis, nodes)
}

/// A realistic mix of users, types and states; the id of user 7's "Budget approval needed"
/// (approval, unread), the one notification the operator looks for.
async fn seed(node: &TestApp) -> i64 {
    let rows: [(i64, &str, &str, &str, bool); SEEDED as usize] = [
        (9, "action_item", "Update the on-call rota for May", "Two swaps requested", false),
        (12, "general", "Scheduled maintenance tonight 22:00–23:00 UTC", "Sign-in may pause briefly", true),
        (8, "meeting_invitation", "Invitation: Design review, Thursday 10:00", "Room 4.12 or video", false),
        (7, "action_item", "Review the budget draft before Friday", "Comments in the shared sheet", false),
        (9, "mom_created", "Minutes: Q3 planning meeting", "Decisions and owners inside", true),
        (8, "approval", "Budget approval needed", "Team offsite: 3 200 €", false),
        (11, "meeting_response", "Alex accepted: Roadmap review", "", true),
        (7, "meeting", "Weekly sync moved to 15:00", "Same link as usual", false),
        (8, "meeting_scheduled", "Retro scheduled for Friday 16:00", "", false),
        (7, "approval", "Travel approval: Berlin offsite", "Two nights, by train", false),
        (7, "approval", "Budget approval needed", "Q3 marketing budget: 12 400 €", false),
        (10, "general", "Welcome to Herald", "Your notifications appear here", true),
    ];
    let mut target = None;
    for (user, kind, title, message, read) in rows {
        let mut body = json!({"user_id": user, "type": kind, "title": title, "message": message});
        let is_target = (user, kind, title) == (7, "approval", "Budget approval needed");
        if is_target {
            body["data"] = json!({"amount": 12400, "currency": "EUR", "form_type": "budget"});
            body["link"] = json!("https://app.example.com/approvals/3");
        }
        let (status, created) = node.post("/auth/notifications/create/", &staff_token(SENDER), body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = id_of(&created["notification"]);
        if read {
            let (status, marked) = node.post_empty(&format!("/auth/notifications/{id}/read/"), &token(user)).await;
            assert_eq!(status, StatusCode::OK, "{marked}");
        }
        target = target.or(is_target.then_some(id));
    }
    target.expect("the target was seeded")
}

/// A socket of `user` on `node` as a client behind a proxy would open it (`headers`), greeted.
async fn open_as(node: &TestApp, user: i64, headers: &[(&str, &str)]) -> WsClient {
    let mut ws = WsClient::try_connect(&ws_url(node, &format!("?token={}", token(user))), headers)
        .await
        .expect("handshake accepted");
    assert_eq!(ws.next_json().await["type"], "connection_established");
    ws
}

/// `map` (a JS expression of `e`) of every element matching `css`, in order, as strings.
async fn strings(browser: &Browser, css: &str, map: &str) -> Vec<String> {
    let script = format!("return [...document.querySelectorAll(arguments[0])].map((e) => String({map}));");
    let answer = browser.script(&script, json!([css])).await;
    answer.as_array().expect("an array").iter().map(|v| v.as_str().unwrap_or("?").to_owned()).collect()
}

/// The distinct strings of `strings`.
async fn string_set(browser: &Browser, css: &str, map: &str) -> BTreeSet<String> {
    strings(browser, css, map).await.into_iter().collect()
}

/// `NODES` as a set.
fn node_names() -> BTreeSet<String> {
    NODES.map(String::from).into()
}

/// Dismisses the toast (it would cover the content), moves the mouse off the content (no row
/// hovered) and saves the viewport as `name`.
async fn picture(browser: &Browser, name: &str) {
    if browser.script("return !document.getElementById('status-close').hidden;", json!([])).await == json!(true) {
        browser.click("#status-close").await;
    }
    let gone = "return getComputedStyle(document.getElementById('toast')).opacity === '0';";
    browser.wait_for("the toast gone", gone, json!([])).await;
    browser.move_mouse(700, 80).await;
    browser.save_screenshot(name).await;
}

/// Signs in as a staff member, after a token that is not staff was refused on the page; checks
/// where the token is kept and that no inline script runs under the node's policy.
async fn sign_in(browser: &Browser, node: &TestApp) {
    let res = node.client.get(node.url("/admin/")).send().await.expect("GET /admin/");
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"), "a strict CSP: {csp:?}");

    browser.goto(&node.url("/admin/")).await;
    let shown = "return !document.getElementById('sign-in-screen').hidden;";
    browser.wait_for("the sign-in form", shown, json!([])).await;
    browser.type_into("#token-input", &token(7)).await;
    browser.click("#sign-in").await;
    browser.wait_text_has("#sign-in-error", "this token is not staff").await;

    let staff = staff_token(STAFF);
    browser.clear("#token-input").await;
    browser.type_into("#token-input", &staff).await;
    browser.click("#sign-in").await;
    browser.wait_for("the console", "return !document.getElementById('app').hidden;", json!([])).await;
    browser.wait_text_has("#who", &format!("user {STAFF} · staff")).await;

    let kept = "return [location.href, sessionStorage.getItem('herald.admin.token'), localStorage.length, \
                document.cookie, document.querySelectorAll('script:not([src])').length];";
    let kept = browser.script(kept, json!([])).await;
    assert!(kept[0].as_str().is_some_and(|href| !href.contains(&staff)), "the token is not in the URL: {kept}");
    assert_eq!(kept[1], json!(staff), "the token is in session storage");
    assert_eq!((&kept[2], &kept[3], &kept[4]), (&json!(0), &json!(""), &json!(0)), "nowhere else; no inline script");
    assert_eq!(console_errors(browser).await, Vec::<Value>::new(), "no error in the browser's console");
    let inline = "const s = document.createElement('script'); s.textContent = 'window.inlineRan = true'; \
                  document.head.appendChild(s); return window.inlineRan === true;";
    assert_eq!(browser.script(inline, json!([])).await, json!(false), "an inline script ran despite the CSP");
    let violation = console_errors(browser).await;
    assert_eq!(violation.len(), 1, "the one error: the inline script refused {violation:?}");
    assert!(violation[0]["message"].as_str().is_some_and(|m| m.contains("Content Security Policy")), "{violation:?}");
}

/// The browser console's new `SEVERE` entries, but for the one a sign-in as above makes: the
/// token that is not staff was refused (403).
async fn console_errors(browser: &Browser) -> Vec<Value> {
    let expected = ["/admin/api/audit/?limit=1 - Failed to load resource: the server responded with a status of 403"];
    let entries = browser.console_log().await.into_iter().filter(|e| e["level"] == "SEVERE");
    entries.filter(|e| !expected.iter().any(|x| e["message"].as_str().is_some_and(|m| m.contains(x)))).collect()
}

/// Filters by user, state, type and a word; opens the one notification found and marks it read:
/// the owner's socket on the other node is told, and the page says so.
async fn find_and_mark_read(browser: &Browser, target: i64, tab: &mut WsClient) {
    browser.type_into("#f-user", "7").await;
    browser.select("#f-read", "false").await;
    browser.click("#f-types input[name=type][value=approval]").await;
    browser.type_into("#f-q", "budget").await;
    browser.click("#f-apply").await;
    let only = "const ids = [...document.querySelectorAll('#notifications-table tbody tr[data-id]')] \
                .map((r) => r.dataset.id); return ids.length === 1 && ids[0] === String(arguments[0]);";
    browser.wait_for("the one notification found", only, json!([target])).await;
    let hash = browser.script("return location.hash;", json!([])).await;
    assert_eq!(hash, json!("#/notifications?user_id=7&is_read=false&type=approval&q=budget"));
    let kept = strings(browser, "#f-user, #f-read, #f-q, #f-types input:checked", "e.value").await;
    assert_eq!(kept, ["7", "false", "budget", "approval"], "the form shows the filters");

    let link = format!("#notifications-table tr[data-id=\"{target}\"] a[href=\"#/notifications/{target}\"]");
    browser.click(&link).await;
    browser.wait_text("#detail h1", &format!("Notification #{target}")).await;
    let data: Value =
        serde_json::from_str(browser.text("#detail-data").await.as_str().expect("data shown")).expect("JSON data");
    assert_eq!((data["amount"].as_i64(), data["currency"].as_str()), (Some(12400), Some("EUR")), "{data}");
    browser.click("#mark-read").await;
    let pushed = tab.next_of_type("notification_read").await;
    assert_eq!((pushed["notification_id"].as_i64(), pushed["unread_count"].as_i64()), (Some(target), Some(3)));
    browser.wait_text_has("#status", "Marked read · user 7 now has 3 unread").await;
    browser.wait_for("the Mark unread button", "return !!document.getElementById('mark-unread');", json!([])).await;
}

/// User 7's page, reached with the top bar's "Go to user": their two sockets, one on each node,
/// with who is behind each; saved as admin-user.png.
async fn user_page_lists_sockets(browser: &Browser) {
    browser.type_into("#goto-user", &format!("7{ENTER}")).await;
    browser.wait_count(SOCKET_ROWS, 2).await;
    assert_eq!(string_set(browser, SOCKET_ROWS, "e.dataset.node").await, node_names(), "one on each node");
    browser.wait_text("#sockets-count", "2 sockets on 2 nodes").await;
    let agents = strings(browser, "#user-sockets td.ua", "e.textContent").await;
    assert!(agents.iter().any(|a| a.starts_with("Herald-iOS/")), "{agents:?}");
    assert!(agents.iter().any(|a| a.contains("Chrome/")), "{agents:?}");
    let addrs = string_set(browser, "#user-sockets td.mono", "e.textContent").await;
    assert_eq!(addrs, ["198.51.100.7", "203.0.113.9"].map(String::from).into(), "as the proxy forwarded them");
    assert_eq!((browser.text("#user-unread").await, browser.text("#user-total").await), (json!("3"), json!("4")));
    assert_eq!(browser.count("#user-inbox tbody tr[data-id]").await, 4);
    let card = browser.script("return document.getElementById('sockets-card').innerText;", json!([])).await;
    assert!(!card.to_string().contains("null"), "no stray text in the sockets card: {card}");
    picture(browser, "admin-user.png").await;
}

/// "Disconnect all", confirmed: both sockets close with 4003 and the table empties.
async fn disconnect_all(browser: &Browser, sockets: [&mut WsClient; 2]) {
    browser.click("#disconnect-all").await;
    browser.wait_for("the dialog", "return document.getElementById('confirm-dialog').open;", json!([])).await;
    browser.wait_text_has("#confirm-message", "Close 2 sockets of user 7 on every node?").await;
    browser.click("#confirm-ok").await;
    for ws in sockets {
        assert_eq!(ws.expect_close().await.0, 4003);
    }
    browser.wait_text_has("#status", "Disconnected 2 sockets").await;
    browser.wait_count(SOCKET_ROWS, 0).await;
    browser.wait_text("#sockets-count", "0 sockets").await;
}

/// The cluster page: both nodes answering, with this node marked; saved as admin-cluster.png.
async fn cluster_page_lists_nodes(browser: &Browser) {
    browser.click("a[data-nav=cluster]").await;
    browser.wait_count(NODE_ROWS, 2).await;
    browser.wait_text_has("#cluster-updated", "updated").await;
    assert_eq!(string_set(browser, NODE_ROWS, "e.dataset.node").await, node_names());
    assert_eq!(browser.count("#cluster-nodes tbody .state.ok").await, 2, "both answer, every check ok");
    let this = strings(browser, NODE_ROWS, "e.querySelector('.tag') ? e.dataset.node : ''").await;
    assert_eq!(this.concat(), NODES[0], "the browser's node is this node: {this:?}");
    let sockets = strings(browser, NODE_ROWS, "e.cells[2].textContent").await;
    let total: i64 = sockets.iter().filter_map(|s| s.parse::<i64>().ok()).sum();
    assert_eq!(total, 3, "the three other users' sockets: {sockets:?}");
    picture(browser, "admin-cluster.png").await;
}

#[actix_web::test]
async fn the_console_finds_marks_and_disconnects_across_two_nodes() {
    let (_db, _redis, nodes) = two_nodes().await;
    let target = seed(&nodes[0]).await;
    let browser = Browser::start().await;
    browser.set_viewport(1280, 800).await;
    // User 7 at a desk (through node A) and on a phone (node B); three other users online.
    let desktop = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
    let mut on_a = open_as(&nodes[0], 7, &[("User-Agent", desktop), ("X-Real-IP", "203.0.113.9")]).await;
    let phone = [("User-Agent", "Herald-iOS/2.4.1 (iPhone; iOS 17.5)"), ("X-Forwarded-For", "198.51.100.7, 10.0.0.1")];
    let mut on_b = open_as(&nodes[1], 7, &phone).await;
    let mut bystanders = Vec::new();
    for (node, user) in [(&nodes[0], 8), (&nodes[1], 9), (&nodes[1], 12)] {
        bystanders.push(open_as(node, user, &[("User-Agent", "Herald-Android/2.4.0")]).await);
    }

    sign_in(&browser, &nodes[0]).await;
    browser.wait_count("#notifications-table tbody tr[data-id]", SEEDED).await;
    assert_eq!(browser.count("#notifications-table tbody tr.is-unread").await, 8);
    picture(&browser, "admin-notifications.png").await;

    find_and_mark_read(&browser, target, &mut on_b).await;
    assert_eq!(on_a.next_of_type("notification_read").await["notification_id"], target);
    user_page_lists_sockets(&browser).await;
    disconnect_all(&browser, [&mut on_a, &mut on_b]).await;

    // The other users' sockets are untouched and still get their pushes (on both nodes: the
    // cluster page has some traffic to show).
    for n in 0..12 {
        let user = [8, 9, 12][n % 3];
        let id = create_id(&nodes[n % 2], user, &format!("Reminder {n}")).await;
        assert_eq!(bystanders[n % 3].next_of_type("notification").await["notification"]["id"], id);
    }
    cluster_page_lists_nodes(&browser).await;

    assert_eq!(console_errors(&browser).await, Vec::<Value>::new(), "no error in the browser's console");
    drop(browser);
    for node in &nodes {
        node.stop().await;
    }
}
