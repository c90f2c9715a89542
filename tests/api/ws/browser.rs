//! The test page at `/` and the JS client `/static/herald.js` in headless chromium (SPEC §6), under
//! the node's Content-Security-Policy, driven over WebDriver: live notifications and the unread
//! badge, mark-read, and a resume with `since` after the node under the page is replaced; then the
//! inbox states: the unseen badge and showing the inbox marking everything seen, Archive, Archive
//! all read, the Archived tab and Unarchive, Snooze, and other sources' archive and unarchive
//! pushed to the list shown. The page after the reconnect is saved as
//! target/test-artifacts/test-page.png, the final one as test-page-states.png (with
//! HERALD_UPDATE_SCREENSHOT=1 also in docs/).

use crate::helpers::{token, Backend, Browser, DbGuard, TestApp};
use awc::http::StatusCode;
use serde_json::{json, Value};
use std::time::Instant;

/// The test page's state, badge, list and newest log lines, for failure messages.
const PAGE_SUMMARY: &str = "const t = (s) => document.querySelector(s)?.innerText; \
    const list = document.querySelector('#notifications'); \
    return `state: ${t('#state')}, unread: ${t('#unread-badge')}, unseen: ${t('#unseen-badge')}\\n\
    notifications (${list.dataset.view}, busy: ${list.getAttribute('aria-busy')}):\\n${t('#notifications')}\\n\
    log (newest first):\\n\
    ${[...document.querySelectorAll('#log li')].slice(0, 25).map(li => li.textContent).join('\\n')}`;";

/// Polls until the notification list has an item for `id`.
async fn wait_listed(browser: &Browser, id: i64) {
    let script = "return !!document.querySelector(`#notifications li[data-id=\"${arguments[0]}\"]`);";
    browser.wait_for(&format!("notification {id} listed"), script, json!([id])).await;
}

/// Polls until the notification list has no item for `id`.
async fn wait_unlisted(browser: &Browser, id: i64) {
    let script = "return !document.querySelector(`#notifications li[data-id=\"${arguments[0]}\"]`);";
    browser.wait_for(&format!("notification {id} not listed"), script, json!([id])).await;
}

/// The ids of the page's list, in order.
async fn listed(browser: &Browser) -> Value {
    let script =
        "return [...document.querySelectorAll('#notifications li[data-id]')].map((li) => Number(li.dataset.id));";
    browser.script(script, json!([])).await
}

/// The ids the server lists for user 1 with `query` (`""`: the default list), newest first.
async fn server_ids(node: &TestApp, query: &str) -> Vec<i64> {
    let (status, body) = node.get(&format!("/auth/notifications/{query}"), &token(1)).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    let list = body["notifications"].as_array().unwrap_or_else(|| panic!("{query}: a list: {body}"));
    list.iter().map(|n| n["id"].as_i64().expect("an id")).collect()
}

/// The server's counts for user 1.
async fn server_counts(node: &TestApp) -> Value {
    let (status, body) = node.get("/auth/notifications/unread-count/", &token(1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Polls until the panel's list is idle (its fetch and the inbox's mark-all-seen done).
async fn wait_settled(browser: &Browser) {
    let idle = "return document.querySelector('#notifications').getAttribute('aria-busy') === 'false';";
    browser.wait_for("the list settled", idle, json!([])).await;
}

/// Clicks the panel's tab `view` (`inbox`, `archived`, `snoozed`) and waits until its list was
/// loaded after the click (`data-loaded` counts finished loads), and for the inbox marked seen.
async fn open_tab(browser: &Browser, view: &str) {
    let loads = "return Number(document.querySelector('#notifications').dataset.loaded || 0);";
    let before = browser.script(loads, json!([])).await;
    browser.click(&format!("#view-{view}")).await;
    let loaded = "const l = document.querySelector('#notifications'); return l.dataset.view === arguments[0] \
                  && l.getAttribute('aria-busy') === 'false' && Number(l.dataset.loaded || 0) > arguments[1];";
    browser.wait_for(&format!("the {view} tab loaded"), loaded, json!([view, before])).await;
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
    inbox_states_work(&browser, &second, [first_id, meanwhile_id, live_id]).await;
    browser.save_screenshot("test-page-states.png").await;
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
    // (How many are unseen depends on whether the replayed one came before the page's list was
    // shown, and so marked seen.)
    assert_eq!(server_counts(node).await["unread_count"], json!(2));
}

/// The inbox states from the page: a live notification is unseen until the inbox is shown; an
/// item's Archive, "Archive all read", the Archived tab and Unarchive, Snooze; and the same
/// actions made elsewhere (REST, as another device would) pushed to the list shown. `ids`: the
/// first (read), the replayed and the live notification (both unread), listed in the inbox.
async fn inbox_states_work(browser: &Browser, node: &TestApp, ids: [i64; 3]) {
    let [first_id, meanwhile_id, live_id] = ids;
    let item = |id: i64| format!("#notifications li[data-id=\"{id}\"]");

    // A notification arriving while the list is shown is unseen: the badge counts it, as the
    // server does, and the item says "new".
    wait_settled(browser).await;
    let fresh_id = create(node, "Unseen until the inbox is shown").await;
    wait_listed(browser, fresh_id).await;
    let unseen = server_counts(node).await["unseen_count"].as_i64().expect("unseen_count");
    assert!(unseen >= 1, "the fresh notification is unseen");
    browser.wait_text("#unseen-badge", &unseen.to_string()).await;
    assert_eq!(browser.text(&format!("{} .pill.new", item(fresh_id))).await, json!("new"));

    // Showing the inbox (its tab, as opening a panel) marks everything seen: page and server.
    open_tab(browser, "inbox").await;
    browser.wait_text("#unseen-badge", "0").await;
    browser.wait_count("#notifications li.unseen", 0).await;
    assert_eq!(server_counts(node).await, json!({"unread_count": 3, "unseen_count": 0}));
    assert_eq!(listed(browser).await, json!([fresh_id, live_id, meanwhile_id, first_id]));

    // An item's Archive: it leaves the list (read now: the unread badge drops) and the server
    // lists it in the archive only.
    browser.click(&format!("{} button.archive", item(fresh_id))).await;
    wait_unlisted(browser, fresh_id).await;
    browser.wait_text("#unread-badge", "2").await;
    assert_eq!(server_ids(node, "?archived=true").await, [fresh_id]);
    assert!(!server_ids(node, "").await.contains(&fresh_id), "archived: out of the default list");

    // Mark one read, then "Archive all read": the read ones (that one and the first) leave, the
    // unread one stays; the server agrees.
    browser.click(&format!("{} button.mark-read", item(live_id))).await;
    browser.wait_text("#unread-badge", "1").await;
    browser.wait_count(&format!("{}.read", item(live_id)), 1).await;
    browser.click("#archive-all-read").await;
    wait_unlisted(browser, live_id).await;
    wait_unlisted(browser, first_id).await;
    assert_eq!(listed(browser).await, json!([meanwhile_id]), "{}", browser.summary().await);
    assert_eq!(server_ids(node, "?archived=true").await, [fresh_id, live_id, first_id]);
    assert_eq!(server_ids(node, "").await, [meanwhile_id]);
    assert_eq!(server_counts(node).await, json!({"unread_count": 1, "unseen_count": 0}));

    // Archived elsewhere (REST): the push takes it out of the page's list and its count.
    let (status, body) = node.post_empty(&format!("/auth/notifications/{meanwhile_id}/archive/"), &token(1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["changed"], json!(1), "{body}");
    wait_unlisted(browser, meanwhile_id).await;
    browser.wait_text("#unread-badge", "0").await;
    browser.wait_text("#notifications .empty", "No notifications yet.").await;

    // The Archived tab lists all four, each with Unarchive; Unarchive takes one out (the server
    // lists it in the default list again), and an unarchive elsewhere is pushed likewise.
    open_tab(browser, "archived").await;
    assert_eq!(listed(browser).await, json!([fresh_id, live_id, meanwhile_id, first_id]));
    assert_eq!(browser.count("#notifications li[data-id] button.unarchive").await, 4);
    assert_eq!(browser.count("#notifications li[data-id] button.archive").await, 0);
    browser.click(&format!("{} button.unarchive", item(fresh_id))).await;
    wait_unlisted(browser, fresh_id).await;
    assert_eq!(server_ids(node, "?archived=true").await, [live_id, meanwhile_id, first_id]);
    assert_eq!(server_ids(node, "").await, [fresh_id]);
    let (status, body) = node.post_empty(&format!("/auth/notifications/{first_id}/unarchive/"), &token(1)).await;
    assert_eq!((status, &body["changed"]), (StatusCode::OK, &json!(1)), "{body}");
    wait_unlisted(browser, first_id).await;

    // Back in the inbox: both unarchived ones (read) are listed. Snooze takes one out until its
    // time; the server lists it as snoozed.
    open_tab(browser, "inbox").await;
    assert_eq!(listed(browser).await, json!([fresh_id, first_id]));
    browser.click(&format!("{} button.snooze", item(fresh_id))).await;
    wait_unlisted(browser, fresh_id).await;
    assert_eq!(server_ids(node, "?snoozed=true").await, [fresh_id]);

    // For the picture: one seen (listed when it came, then the inbox shown) and one new.
    let seen_id = create(node, "Weekly report is ready").await;
    wait_listed(browser, seen_id).await;
    open_tab(browser, "inbox").await;
    let new_id = create(node, "Design review moved to 3 pm").await;
    wait_listed(browser, new_id).await;
    browser.wait_text("#unread-badge", "2").await;
    browser.wait_text("#unseen-badge", "1").await;
    assert_eq!(server_counts(node).await, json!({"unread_count": 2, "unseen_count": 1}));
    assert_eq!(listed(browser).await, json!([new_id, seen_id, first_id]));
}
