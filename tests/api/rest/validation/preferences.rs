//! Preference updates.

use super::PREFERENCES;
use crate::helpers::*;
use crate::on_both_backends;
use awc::http::StatusCode;
use serde_json::{json, Value};

fn assert_all_types(preferences: &Value, case: &str) {
    let map = preferences.as_object().expect("preferences object");
    assert_eq!(map.len(), 8, "{case}: {preferences}");
    for kind in NOTIFICATION_TYPES {
        let entry = &preferences[kind];
        assert!(entry["enabled"].is_boolean() && entry["realtime"].is_boolean(), "{case}: {kind} in {preferences}");
    }
}

on_both_backends!(preferences_put_is_partial_and_all_or_nothing, |app| {
    let me = token(1);
    let (status, initial) = app.get(PREFERENCES, &me).await;
    assert_eq!(status, StatusCode::OK, "{initial}");
    assert_all_types(&initial["preferences"], "defaults");
    for kind in NOTIFICATION_TYPES {
        assert_eq!(initial["preferences"][kind], json!({"enabled": true, "realtime": true}), "{kind} defaults on");
    }

    let (status, reply) = app.put(PREFERENCES, &me, json!({"preferences": {"meeting": {"realtime": false}}})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_all_types(&reply["preferences"], "after a partial PUT");
    let mut expected = initial["preferences"].clone();
    expected["meeting"] = json!({"enabled": true, "realtime": false});
    assert_eq!(reply["preferences"], expected, "only meeting.realtime changed");
    let (_, now) = app.get(PREFERENCES, &me).await;
    assert_eq!(now["preferences"], expected, "GET shows the PUT");

    let (status, reply) = app.put(PREFERENCES, &me, json!({"preferences": {"meeting": {"enabled": false}}})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    expected["meeting"] = json!({"enabled": false, "realtime": false});
    assert_eq!(reply["preferences"], expected, "realtime kept its value when only enabled was given");
    let (status, reply) = app.put(PREFERENCES, &me, json!({"preferences": {}})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["preferences"], expected, "an empty PUT changes nothing");

    // Each bad PUT also carries valid changes, before and after the bad entry in any key order.
    let bad_puts = [
        (
            "unknown type",
            json!({"preferences": {"action_item": {"enabled": false}, "alert": {"enabled": false}, "mom_created": {"realtime": false}}}),
        ),
        (
            "non-object entry",
            json!({"preferences": {"action_item": {"enabled": false}, "general": true, "mom_created": {"realtime": false}}}),
        ),
        (
            "non-boolean value",
            json!({"preferences": {"action_item": {"enabled": false}, "general": {"enabled": "no"}, "mom_created": {"realtime": false}}}),
        ),
        (
            "null value",
            json!({"preferences": {"action_item": {"enabled": false}, "general": {"realtime": null}, "mom_created": {"realtime": false}}}),
        ),
        (
            "unknown field",
            json!({"preferences": {"action_item": {"enabled": false}, "general": {"realtime": false, "email": false}, "mom_created": {"realtime": false}}}),
        ),
        ("preferences not an object", json!({"preferences": [{"general": {"enabled": false}}]})),
        ("preferences missing", json!({"general": {"enabled": false}})),
    ];
    for (case, body) in bad_puts {
        let (status, reply) = app.put(PREFERENCES, &me, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {reply}");
        assert_eq!(reply["error"]["code"], "validation_error", "{case}: {reply}");
        assert!(reply["error"]["message"].is_string(), "{case}: {reply}");
        assert!(
            reply["error"]["field"].as_str().is_some_and(|f| f.starts_with("preferences")),
            "{case}: the field names the preferences: {reply}"
        );
        let (_, now) = app.get(PREFERENCES, &me).await;
        assert_eq!(now["preferences"], expected, "{case}: the refused PUT changed nothing");
    }

    let (_, other) = app.get(PREFERENCES, &token(2)).await;
    assert_eq!(other["preferences"], initial["preferences"], "another user's preferences are untouched");
});
