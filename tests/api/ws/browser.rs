//! The test page at `/` and the JS client `/static/herald.js` in headless chromium (SPEC §6), under
//! the node's Content-Security-Policy, driven over WebDriver: live notifications and the unread
//! badge, mark-read, and a resume with `since` after the node under the page is replaced. The final
//! page is saved as target/test-artifacts/test-page.png (with HERALD_UPDATE_SCREENSHOT=1 also as
//! docs/test-page.png).

use crate::helpers::{token, Backend, Browser, DbGuard, TestApp};
use awc::http::StatusCode;
use serde_json::json;
use std::time::Instant;

/// The test page's state, badge, list and newest log lines, for failure messages.
const PAGE_SUMMARY: &str = "const t = (s) => document.querySelector(s)?.innerText; \
    return `state: ${t('#state')}, unread: ${t('#unread-badge')}\\n\
    notifications:\\n${t('#notifications')}\\nlog (newest first):\\n\
    ${[...document.querySelectorAll('#log li')].slice(0, 25).map(li => li.textContent).join('\\n')}`;";

/// Polls until the notification list has an item for `id`.
async fn wait_listed(browser: &Browser, id: i64) {
    let script = "return !!document.querySelector(`#notifications li[data-id=\"${arguments[0]}\"]`);";
    browser.wait_for(&format!("notification {id} listed"), script, json!([id])).await;
}

/// The id of a notification created over REST for user 1 on `app`.
async fn create(app: &TestApp, title: &str) -> i64 {
    app.create_for_self(1, title).await["id"].as_i64().expect("notification id")
}

/// The page loads its client module; this node has a configured secret: no minting offered. The
/// node's Content-Security-Policy is in force: the page's own script ran, an inline one does not.
async fn page_loads_under_the_csp(browser: &Browser, node: &TestApp) {
    browser.goto(&node.url("/")).await;
    browser
        .wait_for("the page script ran", "return document.querySelector('#mint-hint').textContent !== '';", json!([]))
        .await;
    let inline = "const s = document.createElement('script'); s.textContent = 'window.inlineRan = true'; \
                  document.head.appendChild(s); return window.inlineRan === true;";
    assert_eq!(browser.script(inline, json!([])).await, json!(false), "an inline script ran despite the CSP");
    let mint_hidden = browser.script("return document.querySelector('#mint-row').hidden;", json!([])).await;
    assert_eq!(mint_hidden, json!(true), "/dev/token answers 404 here, so no mint button");
}

#[actix_web::test]
async fn the_test_page_shows_live_notifications_and_resumes_with_since_on_a_new_node() {
    let started = Instant::now();
    let (guard, database_url) = DbGuard::new(Backend::Sqlite);
    let first = TestApp::spawn_on(DbGuard::None, &database_url, &[]).await;
    let port = first.port;
    let browser = Browser::start().await.summarized_by(PAGE_SUMMARY);
    eprintln!("browser: chromium up after {:?}", started.elapsed());

    page_loads_under_the_csp(&browser, &first).await;
    browser.type_into("#token", &token(1)).await;
    browser.click("#connect").await;
    browser.wait_text("#state", "open").await;
    browser.wait_text("#unread-badge", "0").await;

    // Created over REST: pushed to the page, listed, counted.
    let first_id = create(&first, "Created over REST").await;
    wait_listed(&browser, first_id).await;
    browser.wait_text("#unread-badge", "1").await;
    let title = browser.text(&format!("#notifications li[data-id=\"{first_id}\"] .title")).await;
    assert_eq!(title, json!("Created over REST"));

    // Its Mark read button: the badge drops and the database agrees.
    browser.click(&format!("#notifications li[data-id=\"{first_id}\"] button.mark-read")).await;
    browser.wait_text("#unread-badge", "0").await;
    let read_class =
        "return document.querySelector(`#notifications li[data-id=\"${arguments[0]}\"]`).classList.contains('read');";
    browser.wait_for("the item shows read", read_class, json!([first_id])).await;
    let (status, body) = first.get("/auth/notifications/", &token(1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["notifications"][0]["id"], json!(first_id), "{body}");
    assert_eq!(body["notifications"][0]["is_read"], json!(true), "{body}");
    assert_eq!(body["unread_count"], json!(0), "{body}");

    // The node goes away under the page (sockets close with 1001): the client starts retrying.
    first.stop().await;
    drop(first);
    browser.wait_text("#state", "reconnecting").await;

    // A new node on the same port and database; a notification created as it comes up, while
    // the page is still retrying (or just back): it arrives either way, exactly once. (The page
    // keeps its URL, so the new node re-binds the port the stopped one held: the scenario.)
    let bind = format!("127.0.0.1:{port}");
    let second = TestApp::spawn_on(guard, &database_url, &[("HERALD_BIND", bind.as_str())]).await;
    let meanwhile_id = create(&second, "Created while the page was away").await;
    browser.wait_text("#state", "open").await;
    wait_listed(&browser, meanwhile_id).await;
    browser.wait_text("#unread-badge", "1").await;
    let resumed = format!("since={first_id}");
    let log_has = "return document.querySelector('#log').textContent.includes(arguments[0]);";
    browser.wait_for("the reconnect resumed with since", log_has, json!([resumed])).await;
    let synced = "return [...document.querySelectorAll('#log li')].some((li) => \
                  li.textContent.includes('sync_complete') && li.textContent.includes(`\"last_id\":${arguments[0]}`));";
    let replayed = browser.script(synced, json!([meanwhile_id])).await;
    eprintln!(
        "browser: notification {meanwhile_id} came by {}",
        if replayed == json!(true) { "replay (since)" } else { "push" }
    );

    // And live pushes from the new node.
    let live_id = create(&second, "Live from the new node").await;
    wait_listed(&browser, live_id).await;
    browser.wait_text("#unread-badge", "2").await;
    let items =
        browser.script("return document.querySelectorAll('#notifications li[data-id]').length;", json!([])).await;
    assert_eq!(items, json!(3), "each notification listed once\n{}", browser.summary().await);

    page_actions_work(&browser, &second, live_id, log_has).await;
    browser.save_screenshot("test-page.png").await;
    drop(browser);
    second.stop().await;
    eprintln!("browser: scenario done in {:?}", started.elapsed());
}

/// The page's own actions: ping, the send form (to yourself: the reply lists it, no push comes
/// back to the sending socket) and an item's Delete button.
async fn page_actions_work(browser: &Browser, node: &TestApp, live_id: i64, log_has: &str) {
    browser.click("#ping").await;
    browser.wait_for("a pong", log_has, json!(["\"type\":\"pong\""])).await;
    browser.click("#send").await;
    let sent_id = live_id + 1;
    wait_listed(browser, sent_id).await;
    browser.wait_text("#unread-badge", "3").await;
    browser.click(&format!("#notifications li[data-id=\"{sent_id}\"] button.delete")).await;
    browser.wait_text("#unread-badge", "2").await;
    let gone = "return !document.querySelector(`#notifications li[data-id=\"${arguments[0]}\"]`);";
    browser.wait_for("the deleted item gone", gone, json!([sent_id])).await;
    let (status, body) = node.get("/auth/notifications/unread-count/", &token(1)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"unread_count": 2, "unseen_count": 2})));
}
