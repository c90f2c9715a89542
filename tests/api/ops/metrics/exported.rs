//! Every metric an alert or a panel queries is one a running node exports, and every family has a panel.

use super::promql::metric_names;
use super::{alert_rules, dashboard, panels};
use crate::helpers::*;
use awc::http::{Method, StatusCode};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The PromQL of the dashboard's queries: every target's `expr`, and the metric selector of
/// each query variable's `label_values(selector, label)`.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    let mut queries: Vec<String> = panels(dashboard)
        .into_iter()
        .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        .map(|target| target["expr"].as_str().expect("every target has an expr").to_owned())
        .collect();
    for variable in dashboard["templating"]["list"].as_array().expect("templating") {
        if variable["type"] != "query" {
            continue;
        }
        let query = variable["query"]["query"].as_str().or(variable["query"].as_str()).expect("a variable query");
        let args = query
            .strip_prefix("label_values(")
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("only label_values(…) variables are understood: {query}"));
        if let Some((selector, _label)) = args.rsplit_once(',') {
            queries.push(selector.to_owned());
        }
    }
    queries
}

/// Every metric family the node exports, by name, with its type (`# TYPE` lines).
fn families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| {
            let (name, kind) = rest.split_once(' ').expect("`# TYPE name type`");
            (name.to_owned(), kind.trim().to_owned())
        })
        .collect()
}

/// The family `name` belongs to: itself, or a histogram's (summary's) `_bucket`, `_sum` or
/// `_count` series.
fn family_of<'a>(name: &'a str, families: &BTreeMap<String, String>) -> Option<&'a str> {
    if families.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        let kind = families.get(base)?;
        (kind == "histogram" || (kind == "summary" && *suffix != "_bucket")).then_some(base)
    })
}

/// Series Prometheus itself makes for every target.
const PROMETHEUS_OWN: &[&str] = &["up"];

#[actix_web::test]
async fn every_metric_queried_by_an_alert_or_a_panel_is_one_a_node_exports() {
    let app = TestApp::spawn(Backend::Postgres).await;
    // A little of everything: a socket, a create delivered to it, a 404, a close by the server.
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    app.create_for_self(1, "monitored").await;
    ws.next_of_type("notification").await;
    let (status, _) = app.call(Method::GET, "/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    ws.send_text(&"x".repeat(70 * 1024)).await;
    assert_eq!(ws.expect_close().await.0, 1009);

    let text = app.metrics_text().await;
    let families = families(&text);
    assert!(families.len() >= 10, "{text}");

    let mut queries: Vec<(String, String)> =
        alert_rules().into_iter().map(|(name, rule)| (format!("alert {name}"), text_of(&rule["expr"]))).collect();
    let dashboard = dashboard();
    queries.extend(dashboard_queries(&dashboard).into_iter().map(|q| ("the dashboard".to_owned(), q)));

    let mut used = BTreeSet::new();
    for (source, expr) in &queries {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{source}: no metric in `{expr}`");
        for name in names {
            if PROMETHEUS_OWN.contains(&name.as_str()) {
                continue;
            }
            let family = family_of(&name, &families).unwrap_or_else(|| {
                panic!(
                    "{source} queries `{name}`, which the node does not export (`{expr}`); it exports: {:?}",
                    families.keys().collect::<Vec<_>>()
                )
            });
            used.insert(family.to_owned());
        }
    }
    // And the dashboard shows everything the node exports.
    let dashboard_names: BTreeSet<String> = dashboard_queries(&dashboard)
        .iter()
        .flat_map(|q| metric_names(q))
        .filter_map(|name| family_of(&name, &families).map(str::to_owned))
        .collect();
    for family in families.keys() {
        assert!(dashboard_names.contains(family), "no panel of the dashboard shows {family}");
    }
    assert!(used.contains("herald_ready") && used.contains("herald_publish_to_delivery_seconds"), "{used:?}");
}

fn text_of(value: &serde_yaml::Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("a PromQL string, not {value:?}")).to_owned()
}
