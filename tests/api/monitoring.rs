//! The monitoring files agree with Prometheus and with the node: deploy/prometheus/prometheus.yml
//! and alerts.yml pass `promtool check`, the alerts pass their unit tests (alerts.test.yml), and
//! every metric an alert or a panel of deploy/grafana/herald-dashboard.json queries is one a
//! running node really exports (and every family it exports has a panel). docker-compose.yml's
//! `prometheus` service is checked by deploy_files.rs.

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn path(relative: &str) -> String {
    format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Runs `promtool args…` in the repository and asserts it succeeds; returns its output.
fn promtool(args: &[&str]) -> String {
    let output = Command::new("promtool").args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output();
    let output = match output {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not installed: it comes with Debian's `prometheus` package \
             (apt-get install -y prometheus; .ci/run installs it)"
        ),
        Err(e) => panic!("promtool {args:?}: {e}"),
    };
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool {} failed ({}):\n{text}", args.join(" "), output.status);
    text
}

#[test]
fn promtool_accepts_the_scrape_config_and_the_alert_rules() {
    let config = promtool(&["check", "config", "deploy/prometheus/prometheus.yml"]);
    assert!(config.contains("1 rule files found"), "prometheus.yml loads the alert rules:\n{config}");
    let rules = promtool(&["check", "rules", "deploy/prometheus/alerts.yml"]);
    assert!(rules.contains("SUCCESS"), "{rules}");
}

#[test]
fn the_alerts_fire_on_unhealthy_series_and_not_on_healthy_ones() {
    let out = promtool(&["test", "rules", "deploy/prometheus/alerts.test.yml"]);
    assert!(out.contains("SUCCESS"), "{out}");
    // Every alert has a unit test.
    let tests = read("deploy/prometheus/alerts.test.yml");
    for (name, _) in alert_rules() {
        assert!(tests.contains(&format!("alertname: {name}")), "alerts.test.yml never tests {name}");
    }
}

// ---------------------------------------------------------------------------------------------
// The rules and the dashboard

/// Every alert of alerts.yml as `(name, rule)`.
fn alert_rules() -> Vec<(String, serde_yaml::Value)> {
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&read("deploy/prometheus/alerts.yml")).expect("alerts.yml is YAML");
    let groups = rules["groups"].as_sequence().expect("alerts.yml has groups");
    let rules = groups.iter().flat_map(|group| group["rules"].as_sequence().expect("a group has rules").iter());
    rules.map(|rule| (rule["alert"].as_str().expect("every rule is an alert").to_owned(), rule.clone())).collect()
}

#[test]
fn every_alert_waits_has_a_severity_and_says_what_happened() {
    let alerts = alert_rules();
    let names: Vec<&str> = alerts.iter().map(|(name, _)| name.as_str()).collect();
    for wanted in [
        "HeraldNodeDown",
        "HeraldNotReady",
        "HeraldRedisPublishFailures",
        "HeraldSocketErrorClosesRising",
        "HeraldDeliveryLatencyHigh",
    ] {
        assert!(names.contains(&wanted), "alerts.yml has no {wanted}: {names:?}");
    }
    let docs = read("docs/monitoring.md");
    for (name, rule) in &alerts {
        assert!(rule["for"].as_str().is_some_and(|f| !f.is_empty()), "{name} has no `for:`");
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(["critical", "warning"].contains(&severity), "{name}: severity {severity:?}");
        for annotation in ["summary", "description"] {
            let text = rule["annotations"][annotation].as_str().unwrap_or_default();
            assert!(!text.trim().is_empty(), "{name} has no {annotation}");
        }
        assert!(docs.contains(&format!("`{name}`")), "docs/monitoring.md does not explain {name}");
    }
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

// ---------------------------------------------------------------------------------------------
// Metric names in PromQL

/// Words of PromQL that are not metric names where no `(` follows: aggregation operators
/// (`sum by (le) (…)`), binary and set operators, modifiers, literals.
const KEYWORDS: &str = "sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk \
                        limit_ratio and or unless atan2 bool offset inf nan";
/// Modifiers followed by a parenthesized list of label names.
const LABEL_LISTS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

/// The index just past the bracket that closes the one at `start` (`{…}`, `(…)` or `[…]`),
/// skipping quoted strings.
fn past_closing(chars: &[char], start: usize) -> usize {
    let open = chars[start];
    let close = match open {
        '{' => '}',
        '(' => ')',
        _ => ']',
    };
    let mut depth = 0;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => i = past_string(chars, i) - 1,
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unclosed `{open}` in {}", chars.iter().collect::<String>())
}

/// The index just past the string literal opening at `start`.
fn past_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if quote != '`' => i += 1,
            c if c == quote => return i + 1,
            _ => {}
        }
        i += 1;
    }
    panic!("unclosed string in {}", chars.iter().collect::<String>())
}

/// The metric names `expr` selects: identifiers that no `(` follows (functions) and that are
/// not keywords, outside label matchers (`{…}`), label lists (`by (…)`), ranges (`[…]`),
/// strings and numbers. Grafana's `$variables` are skipped.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let is_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let is_part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let next_non_space = |from: usize| (from..chars.len()).find(|&j| !chars[j].is_whitespace());
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' || c == '[' {
            i = past_closing(&chars, i);
        } else if c == '"' || c == '\'' || c == '`' {
            i = past_string(&chars, i);
        } else if c == '#' {
            i = (i..chars.len()).find(|&j| chars[j] == '\n').unwrap_or(chars.len());
        } else if c == '$' {
            // `$name`, `$__rate_interval` or `${name}`.
            i += 1;
            if chars.get(i) == Some(&'{') {
                i = past_closing(&chars, i);
            } else {
                while i < chars.len() && is_part(chars[i]) {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            // Numbers and durations: 0.99, 1e3, 0x1f, 5m, 1h30m.
            while i < chars.len() && (is_part(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if is_start(c) {
            let start = i;
            while i < chars.len() && is_part(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = next_non_space(i);
            if LABEL_LISTS.contains(&word.as_str()) {
                if let Some(open) = next.filter(|&j| chars[j] == '(') {
                    i = past_closing(&chars, open);
                }
            } else if next.is_some_and(|j| chars[j] == '(') || KEYWORDS.split_whitespace().any(|k| k == word) {
                // A function call or a keyword.
            } else {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn metric_names_are_the_selected_series_only() {
    let cases: &[(&str, &[&str])] = &[
        (r#"up{job="herald"} == 0"#, &["up"]),
        (
            r#"sum by (instance, le) (rate(a_bucket{code=~"1011|1013", x="b{c}(d)"}[5m] offset 1h)) > 0.1
               and on(instance) group_left(node) b == bool 1 or absent(c{job="x"} == 1) # d e"#,
            &["a_bucket", "b", "c"],
        ),
        (
            "histogram_quantile(0.99, sum without (pod) (rate(x_bucket{instance=~\"$instance\"}[$__rate_interval])))",
            &["x_bucket"],
        ),
        ("count_values(\"v\", y) / ignoring(code) z * 1e3 - .5 + topk(3, w) + sum(inf) + nan", &["w", "y", "z"]),
        ("avg(rate(r:recorded[1h30m] @ start())) unless q", &["q", "r:recorded"]),
    ];
    for (expr, expected) in cases {
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(metric_names(expr), expected, "{expr}");
    }
}

// ---------------------------------------------------------------------------------------------
// Against a running node

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
