//! Create: field limits.

use super::{assert_validation, BROADCAST, CREATE};
use crate::helpers::*;
use crate::on_both_backends;
use awc::http::StatusCode;
use serde_json::{json, Value};

async fn create_ok(app: &TestApp, body: Value, case: &str) -> Value {
    let (status, reply) = app.post(CREATE, &token(1), body).await;
    assert_eq!(status, StatusCode::CREATED, "{case}: {reply}");
    reply["notification"].clone()
}

async fn create_rejected(app: &TestApp, body: Value, field: &str, case: &str) {
    let (status, reply) = app.post(CREATE, &token(1), body).await;
    assert_validation(status, &reply, field, case);
}

on_both_backends!(create_title_is_1_to_200_characters_after_trimming, |app| {
    let title = "é".repeat(200);
    assert_eq!(title.len(), 400, "200 characters, 400 bytes");
    let n = create_ok(&app, json!({ "title": title }), "200 × é").await;
    assert_eq!(n["title"], title);
    let n = create_ok(&app, json!({ "title": format!("  {title}\n") }), "200 × é inside whitespace").await;
    assert_eq!(n["title"], title, "stored trimmed");
    create_ok(&app, json!({"title": "x"}), "one character").await;

    create_rejected(&app, json!({ "title": "é".repeat(201) }), "title", "201 × é").await;
    create_rejected(&app, json!({ "title": "x".repeat(201) }), "title", "201 × x").await;
    create_rejected(&app, json!({"title": "   "}), "title", "blank").await;
    create_rejected(&app, json!({"title": ""}), "title", "empty").await;
    create_rejected(&app, json!({"message": "no title"}), "title", "missing").await;
    create_rejected(&app, json!({"title": null}), "title", "null").await;
    for not_a_string in [json!(5), json!(true), json!(["t"]), json!({"t": 1})] {
        create_rejected(&app, json!({ "title": not_a_string }), "title", &format!("title {not_a_string}")).await;
    }
    let page = list(&app, 1, "").await;
    assert_eq!(page["total"], 3, "rejected creates stored nothing: {page}");
});

on_both_backends!(create_message_is_at_most_5000_characters, |app| {
    let message = "é".repeat(5000);
    let n = create_ok(&app, json!({ "title": "t", "message": message }), "5000 × é").await;
    assert_eq!(n["message"], message);
    let n = create_ok(&app, json!({"title": "t"}), "no message").await;
    assert_eq!(n["message"], "");
    create_rejected(&app, json!({ "title": "t", "message": "é".repeat(5001) }), "message", "5001 × é").await;
    create_rejected(&app, json!({ "title": "t", "message": "m".repeat(5001) }), "message", "5001 × m").await;
    create_rejected(&app, json!({"title": "t", "message": 5}), "message", "number").await;
    assert_eq!(list(&app, 1, "").await["total"], 2);
});

on_both_backends!(create_data_is_an_object_of_at_most_16_kib_serialized, |app| {
    const MAX: usize = 16 * 1024;
    // {"k":"…"} is 8 bytes of framing.
    let exact = json!({ "k": "x".repeat(MAX - 8) });
    assert_eq!(serde_json::to_string(&exact).expect("serializes").len(), MAX);
    let n = create_ok(&app, json!({ "title": "t", "data": exact }), "16384 bytes").await;
    assert_eq!(n["data"], exact);
    let n = create_ok(&app, json!({"title": "t", "data": null}), "null data").await;
    assert_eq!(n["data"], json!({}));
    let n = create_ok(&app, json!({"title": "t"}), "no data").await;
    assert_eq!(n["data"], json!({}));
    let nested = json!({"task_id": 123, "tags": ["a", "b"], "meta": {"ok": true, "none": null}});
    let n = create_ok(&app, json!({ "title": "t", "data": nested }), "nested data").await;
    assert_eq!(n["data"], nested);

    let over = json!({ "k": "x".repeat(MAX - 7) });
    create_rejected(&app, json!({ "title": "t", "data": over }), "data", "16385 bytes").await;
    for not_an_object in [json!([1, 2]), json!([]), json!("{}"), json!(7), json!(true)] {
        create_rejected(&app, json!({ "title": "t", "data": not_an_object }), "data", &format!("data {not_an_object}"))
            .await;
    }
    let page = list(&app, 1, "").await;
    assert_eq!(page["total"], 4);
    assert_eq!(page["notifications"][3]["data"], exact, "stored as sent");
});

on_both_backends!(create_link_is_an_absolute_http_url_of_at_most_2048_characters, |app| {
    let prefix = "https://example.com/";
    let exact = format!("{prefix}{}", "a".repeat(2048 - prefix.len()));
    assert_eq!(exact.chars().count(), 2048);
    let n = create_ok(&app, json!({ "title": "t", "link": exact }), "2048 characters").await;
    assert_eq!(n["link"], exact);
    let n = create_ok(&app, json!({"title": "t", "link": null}), "null link").await;
    assert_eq!(n["link"], json!(null));
    let n = create_ok(&app, json!({"title": "t"}), "no link").await;
    assert_eq!(n["link"], json!(null));
    create_ok(&app, json!({"title": "t", "link": "http://example.com"}), "plain http").await;

    create_rejected(&app, json!({ "title": "t", "link": format!("{exact}a") }), "link", "2049 characters").await;
    for bad in
        ["ftp://x", "ftp://example.com/file", "/relative", "relative/path", "javascript:alert(1)", "https://", ""]
    {
        create_rejected(&app, json!({ "title": "t", "link": bad }), "link", &format!("link {bad:?}")).await;
    }
    create_rejected(&app, json!({"title": "t", "link": 5}), "link", "link not a string").await;
    assert_eq!(list(&app, 1, "").await["total"], 4);
});

on_both_backends!(create_link_is_stored_normalized_and_refused_with_user_info, |app| {
    // What a client gets back is a well-formed URL, never the characters as typed.
    let typed = r#"https://x.test/"><img src=x onerror=alert(1)>"#;
    let n = create_ok(&app, json!({"title": "t", "link": typed}), "markup in the path").await;
    assert_eq!(n["link"], "https://x.test/%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E");
    let n = create_ok(&app, json!({"title": "t", "link": "HTTPS://X.Test?q=\"'<>"}), "markup in the query").await;
    assert_eq!(n["link"], "https://x.test/?q=%22%27%3C%3E");
    assert_eq!(list(&app, 1, "").await["notifications"][0]["link"], n["link"], "stored so, listed so");

    // User-info makes a link read as one host and lead to another.
    for bad in ["https://bank.test@evil.test/", "https://user:secret@x.test/", "http://:pw@x.test/"] {
        create_rejected(&app, json!({"title": "t", "link": bad}), "link", &format!("link {bad:?}")).await;
    }
    let (status, reply) =
        app.post(BROADCAST, &staff_token(9), json!({"user_ids": [2], "title": "t", "link": "https://a@b.test/"})).await;
    assert_validation(status, &reply, "link", "broadcast with user-info");
    assert_eq!(list(&app, 1, "").await["total"], 2);
    assert_eq!(list(&app, 2, "").await["total"], 0);
});

on_both_backends!(create_type_and_user_id_rules, |app| {
    let n = create_ok(&app, json!({"title": "t"}), "default type").await;
    assert_eq!(n["notification_type"], "general");
    for kind in NOTIFICATION_TYPES {
        let n = create_ok(&app, json!({"title": "t", "type": kind}), kind).await;
        assert_eq!(n["notification_type"], kind);
    }
    let n = create_ok(&app, json!({"title": "t", "notification_type": "mom_created"}), "notification_type").await;
    assert_eq!(n["notification_type"], "mom_created");
    let both = json!({"title": "t", "type": "meeting", "notification_type": "meeting"});
    let n = create_ok(&app, both, "type and notification_type equal").await;
    assert_eq!(n["notification_type"], "meeting");

    create_rejected(&app, json!({"title": "t", "type": "alert"}), "type", "unknown type").await;
    create_rejected(&app, json!({"title": "t", "type": "General"}), "type", "type is case-sensitive").await;
    create_rejected(&app, json!({"title": "t", "type": 3}), "type", "type not a string").await;
    create_rejected(&app, json!({"title": "t", "notification_type": "alert"}), "notification_type", "unknown").await;
    let differing = json!({"title": "t", "type": "meeting", "notification_type": "general"});
    create_rejected(&app, differing, "type", "type and notification_type differ").await;

    for bad in [json!(0), json!(-1), json!("abc"), json!(9_223_372_036_854_775_808_u64), json!(1.5), json!("")] {
        create_rejected(&app, json!({ "title": "t", "user_id": bad }), "user_id", &format!("user_id {bad}")).await;
    }
    assert_eq!(list(&app, 1, "").await["total"], 11);
});

on_both_backends!(approval_fields_are_folded_into_data, |app| {
    let body = json!({
        "title": "Leave approved", "type": "approval", "data": {"x": 1},
        "form_type": "leave", "item_id": 9, "approved": true,
    });
    let first = create_ok(&app, body, "approval with data").await;
    assert_eq!(first["notification_type"], "approval");
    assert_eq!(first["data"], json!({"x": 1, "form_type": "leave", "item_id": 9, "approved": true}));
    let body = json!({"title": "Expense rejected", "type": "approval", "form_type": "expense", "item_id": "INV-9", "approved": false});
    let second = create_ok(&app, body, "approval without data, string item_id").await;
    assert_eq!(second["data"], json!({"form_type": "expense", "item_id": "INV-9", "approved": false}));

    for (field, bad) in [
        ("approved", json!("yes")),
        ("approved", json!(1)),
        ("form_type", json!(5)),
        ("item_id", json!(true)),
        ("item_id", json!(1.5)),
    ] {
        let mut body = json!({"title": "t", "type": "approval", "form_type": "leave", "item_id": 1, "approved": true});
        body[field] = bad.clone();
        create_rejected(&app, body, field, &format!("{field} {bad}")).await;
    }
    let page = list(&app, 1, "").await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["notifications"], json!([second, first]), "stored folded, as replied");
});

// U+0000 is valid in a JSON string. A title, message or link holding one must be stored as sent
// or refused as a validation error naming the field, the same on both backends; never a 500.
on_both_backends!(nul_characters_are_stored_or_refused, |app| {
    for (field, body) in [
        ("title", json!({"title": "a\u{0}b"})),
        ("message", json!({"title": "t", "message": "a\u{0}b"})),
        ("link", json!({"title": "t", "link": "https://example.com/a\u{0}b"})),
        ("data", json!({"title": "t", "data": {"k\u{0}": "a\u{0}b"}})),
    ] {
        let (status, reply) = app.post(CREATE, &token(1), body.clone()).await;
        match status {
            StatusCode::CREATED => assert_eq!(reply["notification"][field], body[field], "{field} stored as sent"),
            StatusCode::BAD_REQUEST => assert_validation(status, &reply, field, field),
            _ => panic!("{field} holding U+0000: {status} {reply}"),
        }
    }
});
