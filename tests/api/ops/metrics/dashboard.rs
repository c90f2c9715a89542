//! deploy/grafana/herald-dashboard.json is Grafana JSON on a Prometheus datasource variable.

use super::promql::metric_names;
use super::{dashboard, panels};
use std::collections::BTreeSet;

#[test]
fn the_dashboard_is_grafana_json_on_a_prometheus_datasource_variable() {
    let dashboard = dashboard();
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "schemaVersion");
    assert!(dashboard["uid"].is_string() && dashboard["title"].is_string());
    let variables = dashboard["templating"]["list"].as_array().expect("templating");
    let datasource = variables.iter().find(|v| v["name"] == "DS_PROMETHEUS").expect("a DS_PROMETHEUS variable");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");

    let mut ids = BTreeSet::new();
    let mut titles = Vec::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().expect("every panel has a title");
        assert!(ids.insert(panel["id"].as_u64().expect("a panel id")), "panel id of {title} repeats");
        for key in ["x", "y", "w", "h"] {
            assert!(panel["gridPos"][key].is_u64(), "{title}: gridPos.{key}");
        }
        if panel["type"] == "row" {
            continue;
        }
        titles.push(title.to_owned());
        let targets = panel["targets"].as_array().filter(|t| !t.is_empty());
        let targets = targets.unwrap_or_else(|| panic!("panel {title} has no query"));
        for target in std::iter::once(panel).chain(targets.iter()) {
            assert_eq!(target["datasource"]["uid"], "${DS_PROMETHEUS}", "{title} queries the chosen Prometheus");
        }
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(!expr.trim().is_empty() && !metric_names(expr).is_empty(), "{title}: no metric in `{expr}`");
        }
    }
    for wanted in ["sockets", "Deliveries", "latency", "HTTP", "5xx", "pool", "Redis", "closes"] {
        assert!(titles.iter().any(|t| t.contains(wanted)), "no panel about {wanted}: {titles:?}");
    }
}
