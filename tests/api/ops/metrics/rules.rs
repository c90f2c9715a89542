//! deploy/prometheus/*.yml pass `promtool check` and their unit tests; every alert says what happened.

use super::{alert_rules, read};
use std::process::Command;

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
