//! Metrics and monitoring: `/metrics` reflects what the node did, and the Prometheus rules and the
//! Grafana dashboard query only what a node exports.

mod dashboard;
mod endpoint;
mod exported;
mod promql;
mod rules;

use serde_json::Value;

fn path(relative: &str) -> String {
    format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Every alert of alerts.yml as `(name, rule)`.
fn alert_rules() -> Vec<(String, serde_yaml::Value)> {
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&read("deploy/prometheus/alerts.yml")).expect("alerts.yml is YAML");
    let groups = rules["groups"].as_sequence().expect("alerts.yml has groups");
    let rules = groups.iter().flat_map(|group| group["rules"].as_sequence().expect("a group has rules").iter());
    rules.map(|rule| (rule["alert"].as_str().expect("every rule is an alert").to_owned(), rule.clone())).collect()
}

fn dashboard() -> Value {
    serde_json::from_str(&read("deploy/grafana/herald-dashboard.json")).expect("the dashboard is JSON")
}

/// The panels of a dashboard, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("the dashboard has panels") {
        out.push(panel);
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}
