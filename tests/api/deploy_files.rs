//! The deployment files (SPEC §6, §7, DESIGN §2) agree with the code and with each other. There
//! is no Docker engine here, so they are parsed: docker-compose.yml (services, start order, no
//! fixed host port on the scaled service, JWT_SECRET from the operator's environment),
//! deploy/herald.env.example (exactly `ENV_VARS`, same defaults and docs, no secret),
//! deploy/Dockerfile (non-root, healthcheck, port) and deploy/nginx.conf (WebSocket upgrade,
//! timeouts above the ping settings, no token redirected from port 80). tests/api/nginx.rs runs
//! nginx.conf.

use herald::config::{Config, DatabaseUrl, RedisTarget, ENV_VARS, PLACEHOLDER_SECRETS};
use serde_yaml::Value;
use std::collections::BTreeMap;

fn read(path: &str) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn default_of(name: &str) -> &'static str {
    ENV_VARS.iter().find(|v| v.name == name).unwrap_or_else(|| panic!("{name} is not in ENV_VARS")).default
}

fn is_env_var(name: &str) -> bool {
    ENV_VARS.iter().any(|v| v.name == name)
}

/// The port of a `host:port` bind address.
fn port_of(bind: &str) -> u16 {
    bind.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no port in {bind:?}"))
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

fn compose() -> Value {
    serde_yaml::from_str(&read("docker-compose.yml")).expect("docker-compose.yml is YAML")
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"].get(name).unwrap_or_else(|| panic!("docker-compose.yml has no service `{name}`"))
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

/// A service's `environment`, in either compose form (mapping or `NAME=value` list).
fn environment(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Null => BTreeMap::new(),
        Value::Mapping(map) => map.iter().map(|(k, v)| (text(k), text(v))).collect(),
        Value::Sequence(items) => items
            .iter()
            .map(|item| {
                let item = text(item);
                let (name, value) = item.split_once('=').unwrap_or((item.as_str(), ""));
                (name.to_owned(), value.to_owned())
            })
            .collect(),
        other => panic!("environment is neither a mapping nor a list: {other:?}"),
    }
}

/// The `condition` a service waits for on `dependency` (long `depends_on` form).
fn condition(service: &Value, dependency: &str) -> String {
    let entry = service["depends_on"].get(dependency).unwrap_or_else(|| panic!("no depends_on {dependency}"));
    text(&entry["condition"])
}

fn strings(value: &Value) -> Vec<String> {
    value.as_sequence().unwrap_or_else(|| panic!("expected a list, got {value:?}")).iter().map(text).collect()
}

/// The files a service's `env_file` names (string or list, short form).
fn env_files(service: &Value) -> Vec<String> {
    match &service["env_file"] {
        Value::Null => Vec::new(),
        Value::String(path) => vec![path.clone()],
        list => strings(list),
    }
}

#[test]
fn compose_runs_every_service_and_herald_scales_without_fixed_ports_or_names() {
    let compose = compose();
    let mut names: Vec<String> = compose["services"].as_mapping().expect("services").keys().map(text).collect();
    names.sort();
    assert_eq!(names, ["herald", "migrate", "nginx", "postgres", "prometheus", "redis"]);

    let herald = service(&compose, "herald");
    assert!(herald.get("ports").is_none(), "herald must publish no host port (--scale herald=N)");
    assert!(herald.get("container_name").is_none(), "herald must have no container_name (--scale herald=N)");
    assert_eq!(herald["deploy"]["replicas"].as_u64(), Some(3));

    let postgres = service(&compose, "postgres");
    assert!(text(&postgres["image"]).starts_with("postgres:16"));
    assert!(text(&postgres["healthcheck"]["test"][1]).contains("pg_isready"), "{:?}", postgres["healthcheck"]);
    let volume = text(&postgres["volumes"][0]);
    let named = volume.split(':').next().expect("volume source");
    assert!(compose["volumes"].get(named).is_some(), "postgres data on the named volume `{named}`");

    let redis = service(&compose, "redis");
    assert!(text(&redis["image"]).starts_with("redis:7"));
    assert_eq!(strings(&redis["command"]), ["redis-server", "--save", "", "--appendonly", "no"]);
    assert!(redis["healthcheck"]["test"].is_sequence(), "redis has a healthcheck");

    let nginx = service(&compose, "nginx");
    assert!(text(&nginx["image"]).starts_with("nginx:1.27"));
    assert_eq!(strings(&nginx["ports"]), ["${HERALD_HTTPS_PORT:-443}:443", "${HERALD_HTTP_PORT:-80}:80"]);
    let mounts = strings(&nginx["volumes"]);
    assert!(mounts.contains(&"./deploy/nginx.conf:/etc/nginx/nginx.conf:ro".to_owned()), "{mounts:?}");
    assert!(mounts.contains(&"./deploy/certs:/etc/nginx/certs:ro".to_owned()), "{mounts:?}");
}

/// The `monitoring` profile: Prometheus on the replicas' network, scraping every replica by DNS.
#[test]
fn compose_monitoring_profile_runs_prometheus_on_the_replicas_network() {
    let compose = compose();
    let prometheus = service(&compose, "prometheus");
    assert_eq!(strings(&prometheus["profiles"]), ["monitoring"], "only with `--profile monitoring`");
    assert_eq!(text(&prometheus["image"]), "prom/prometheus:v2.53.2");
    let command = strings(&prometheus["command"]);
    for flag in ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"] {
        assert!(command.contains(&flag.to_owned()), "{command:?}");
    }
    let mounts = strings(&prometheus["volumes"]);
    assert!(mounts.contains(&"./deploy/prometheus:/etc/prometheus:ro".to_owned()), "{mounts:?}");
    assert!(mounts.contains(&"prometheus-data:/prometheus".to_owned()), "{mounts:?}");
    assert!(compose["volumes"].get("prometheus-data").is_some(), "the TSDB on the named volume prometheus-data");
    let ports = strings(&prometheus["ports"]);
    assert_eq!(ports, ["${HERALD_PROMETHEUS_PORT:-127.0.0.1:9090}:9090"]);
    assert_eq!(interpolate(&ports[0], &BTreeMap::new()).as_deref(), Ok("127.0.0.1:9090:9090"), "loopback by default");
    assert!(prometheus.get("depends_on").is_none(), "Prometheus runs (and alerts) while the replicas are down");
    // On the replicas' network, where DNS answers `herald` with every replica; not on `broker`.
    let networks = match &prometheus["networks"] {
        Value::Null => vec!["default".to_owned()],
        Value::Mapping(map) => map.keys().map(text).collect(),
        list => strings(list),
    };
    assert_eq!(networks, ["default"]);
    let herald_networks = strings(&service(&compose, "herald")["networks"]);
    assert!(herald_networks.contains(&"default".to_owned()), "{herald_networks:?}");

    // The scrape config finds the compose service on the image's port, and loads the alerts
    // from the mounted directory.
    let config: Value = serde_yaml::from_str(&read("deploy/prometheus/prometheus.yml")).expect("prometheus.yml");
    let jobs = config["scrape_configs"].as_sequence().expect("scrape_configs");
    let herald = jobs.iter().find(|job| job["job_name"] == "herald").expect("a `herald` scrape job");
    assert_eq!(text(&herald["metrics_path"]), "/metrics");
    let dns = &herald["dns_sd_configs"][0];
    assert_eq!(strings(&dns["names"]), ["herald"], "the compose service name");
    assert_eq!(text(&dns["type"]), "A");
    assert_eq!(dns["port"].as_u64(), Some(u64::from(dockerfile_exposed_port())));
    for rules in strings(&config["rule_files"]) {
        assert!(!rules.starts_with('/'), "{rules}: relative, so found beside prometheus.yml on host and container");
        read(&format!("deploy/prometheus/{rules}"));
    }
}

#[test]
fn compose_starts_nodes_after_the_migration_and_redis_and_nginx_after_the_nodes() {
    let compose = compose();
    let migrate = service(&compose, "migrate");
    assert_eq!(strings(&migrate["command"]), ["migrate"]);
    assert_eq!(text(&migrate["restart"]), "no");
    assert_eq!(condition(migrate, "postgres"), "service_healthy");

    let herald = service(&compose, "herald");
    assert_eq!(condition(herald, "migrate"), "service_completed_successfully");
    assert_eq!(condition(herald, "redis"), "service_healthy");
    assert!(service(&compose, "nginx")["depends_on"].get("herald").is_some(), "nginx depends on herald");

    // One image, built from deploy/Dockerfile, for the migrator and the nodes.
    for name in ["migrate", "herald"] {
        let build = &service(&compose, name)["build"];
        assert_eq!(text(&build["dockerfile"]), "deploy/Dockerfile", "{name}");
        assert_eq!(text(&build["context"]), ".", "{name}");
    }
    assert!(migrate["image"].is_string(), "migrate names its image");
    assert_eq!(migrate["image"], herald["image"], "migrate and herald run the same image");
}

/// `value` after compose's interpolation from the environment `docker compose` runs in:
/// `$$`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}` and `${NAME?error}`
/// (the `:` forms treat an empty value as unset). `Err` is the error compose stops with.
fn interpolate(value: &str, operator: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let inner = rest.strip_prefix('{').unwrap_or_else(|| panic!("only ${{…}} and $$ are used: {value}"));
        let end = inner.find('}').unwrap_or_else(|| panic!("unclosed ${{ in {value}"));
        let (expression, after) = (&inner[..end], &inner[end + 1..]);
        let name_end = expression.find([':', '-', '?']).unwrap_or(expression.len());
        let (name, operator_part) = expression.split_at(name_end);
        let (empty_is_unset, operation) = match operator_part.strip_prefix(':') {
            Some(operation) => (true, operation),
            None => (false, operator_part),
        };
        let found = operator.get(name).filter(|v| !(empty_is_unset && v.is_empty()));
        match (found, operation.chars().next()) {
            (Some(v), _) => out.push_str(v),
            (None, None) => {}
            (None, Some('-')) => out.push_str(&operation[1..]),
            (None, Some('?')) => {
                return Err(format!("required variable {name} is missing a value: {}", &operation[1..]))
            }
            (None, Some(other)) => panic!("unknown interpolation `{other}` in {value}"),
        }
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// A service's `environment` as compose passes it, interpolated from `operator`.
fn resolved_environment(
    service: &Value,
    operator: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    environment(service).into_iter().map(|(k, v)| Ok((k, interpolate(&v, operator)?))).collect()
}

/// What a node sees: the image's ENV, then env_file, then environment (compose's precedence).
fn node_environment(herald: &Value, operator: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    let mut effective: BTreeMap<String, String> = dockerfile_env();
    effective.extend(env_example().into_iter().filter(|v| !v.commented).map(|v| (v.name, v.value)));
    effective.extend(resolved_environment(herald, operator)?);
    Ok(effective)
}

/// What an operator exports before `docker compose up` (`openssl rand -hex 32`).
const OPERATOR_SECRET: &str = "4f1c0d9e8b7a6f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a190817263";

#[test]
fn nodes_share_postgres_redis_and_a_secret_and_do_not_migrate_themselves() {
    let compose = compose();
    let herald = service(&compose, "herald");
    let migrate = service(&compose, "migrate");
    assert_eq!(env_files(herald), ["deploy/herald.env.example"]);

    let operator = BTreeMap::from([("JWT_SECRET".to_owned(), OPERATOR_SECRET.to_owned())]);
    let effective = node_environment(herald, &operator).expect("compose interpolates with JWT_SECRET exported");
    let config = Config::from_lookup(|k| effective.get(k).cloned()).expect("a node's environment is a valid config");
    config.check_serving().expect("a node's environment may serve");
    let DatabaseUrl::Postgres(database_url) = &config.database else { panic!("nodes use PostgreSQL") };
    assert!(database_url.contains("@postgres:5432/"), "{database_url}");
    assert_eq!(config.redis, Some(RedisTarget::Standalone("redis://redis:6379/0".to_owned())));
    assert!(!config.migrate_on_start, "the migrate service migrates; nodes must not");
    assert!(!config.uses_development_secret(), "replicas need one shared JWT_SECRET, not one random each");
    assert_eq!(config.jwt.secret.0, OPERATOR_SECRET, "every replica gets the operator's secret");
    assert!(config.bind.ip().is_unspecified(), "nginx reaches nodes from another container: {}", config.bind);
    assert_eq!(config.bind.port(), dockerfile_exposed_port());

    // The migrator needs no secret: it resolves and parses without one.
    let mut migrate_env = dockerfile_env();
    migrate_env.extend(resolved_environment(migrate, &BTreeMap::new()).expect("migrate needs no JWT_SECRET"));
    assert_eq!(migrate_env.get("DATABASE_URL"), Some(database_url), "migrate migrates the nodes' database");
    let config = Config::from_lookup(|k| migrate_env.get(k).cloned()).expect("the migrator's environment is valid");
    assert!(matches!(config.database, DatabaseUrl::Postgres(_)));
}

#[test]
fn compose_takes_jwt_secret_from_the_operator_and_refuses_to_start_without_it() {
    let compose = compose();
    let herald = service(&compose, "herald");
    let raw = environment(herald).remove("JWT_SECRET").expect("herald's environment names JWT_SECRET");
    assert!(raw.starts_with("${JWT_SECRET:?") && raw.ends_with('}'), "`${{JWT_SECRET:?message}}`, not a value: {raw}");

    // Unset or empty in the operator's environment: compose itself stops, naming the variable.
    for operator in [BTreeMap::new(), BTreeMap::from([("JWT_SECRET".to_owned(), String::new())])] {
        let err = node_environment(herald, &operator).expect_err("compose must refuse to interpolate");
        assert!(err.contains("JWT_SECRET") && err.contains("32 bytes"), "{err}");
    }

    // And were compose to pass nothing, the node itself would refuse: it listens on 0.0.0.0.
    let operator = BTreeMap::from([("JWT_SECRET".to_owned(), OPERATOR_SECRET.to_owned())]);
    let mut effective = node_environment(herald, &operator).expect("interpolates");
    effective.remove("JWT_SECRET");
    let config = Config::from_lookup(|k| effective.get(k).cloned()).expect("parses");
    let err = config.check_serving().expect_err("no development secret beyond loopback");
    assert!(err.to_string().contains("JWT_SECRET"), "{err}");
}

/// `JWT_SECRET=value` or `JWT_SECRET: value` lines of `text`, comments included.
fn secret_assignments(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.trim_start_matches(['#', ' ', '-']))
        .filter_map(|line| line.strip_prefix("JWT_SECRET").and_then(|rest| rest.strip_prefix(['=', ':'])))
        .map(|value| value.trim().to_owned())
        .collect()
}

/// The files directly in `dir` (relative to the repository), e.g. `deploy/nginx.conf`.
fn files_in(dir: &str) -> Vec<String> {
    let entries = std::fs::read_dir(format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"))).expect("a directory");
    let paths = entries.map(|entry| entry.expect("a directory entry").path()).filter(|path| path.is_file());
    paths.map(|path| format!("{dir}/{}", path.file_name().expect("a name").to_string_lossy())).collect()
}

#[test]
fn nothing_committed_in_compose_or_deploy_is_a_usable_secret() {
    let deploy_files: Vec<String> = ["docker-compose.yml".to_owned()].into_iter().chain(files_in("deploy")).collect();
    for file in &deploy_files {
        let text = read(file);
        for value in secret_assignments(&text) {
            let from_operator = value.starts_with("${JWT_SECRET:?");
            assert!(value.is_empty() || from_operator, "{file} commits a JWT_SECRET value: {value}");
        }
    }
    for file in deploy_files.into_iter().chain(files_in("bench")).chain(["README.md".to_owned()]) {
        let text = read(&file);
        for placeholder in PLACEHOLDER_SECRETS {
            assert!(!text.contains(placeholder), "{file} shows the refused placeholder {placeholder}");
        }
    }
    assert!(
        read(".gitignore").lines().any(|l| l.trim() == ".env"),
        "compose's .env (the operator's secret) is never committed"
    );
}

#[test]
fn every_variable_compose_sets_is_one_the_node_reads() {
    let compose = compose();
    for name in ["herald", "migrate"] {
        for variable in environment(service(&compose, name)).keys() {
            assert!(is_env_var(variable), "docker-compose.yml sets {variable} for {name}, which Herald never reads");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// deploy/herald.env.example

/// One `NAME=value` line of the example, possibly commented out, with the comment above it.
struct ExampleVar {
    name: String,
    value: String,
    commented: bool,
    doc: String,
}

fn env_example() -> Vec<ExampleVar> {
    let text = read("deploy/herald.env.example");
    let lines: Vec<&str> = text.lines().collect();
    let mut vars = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let (commented, rest) = match line.strip_prefix('#') {
            Some(rest) => (true, rest.trim_start()),
            None => (false, *line),
        };
        let Some((name, value)) = rest.split_once('=') else { continue };
        let is_name = name.starts_with(|c: char| c.is_ascii_uppercase())
            && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !is_name {
            continue;
        }
        let doc = i.checked_sub(1).map(|j| lines[j]).and_then(|l| l.strip_prefix("# ")).unwrap_or("").to_owned();
        vars.push(ExampleVar { name: name.to_owned(), value: value.to_owned(), commented, doc });
    }
    vars
}

/// The lines the example should have for `ENV_VARS` (shown when it does not).
fn expected_example_lines() -> String {
    ENV_VARS
        .iter()
        .map(|v| match (v.name, v.default) {
            (name, "") => format!("# {}\n# {name}=\n", v.doc),
            (name, default) => format!("# {}\n{name}={default}\n", v.doc),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_env_example_has_exactly_the_variables_the_node_reads_with_their_defaults() {
    let example = env_example();
    let hint = || format!("deploy/herald.env.example should list, in ENV_VARS order:\n\n{}", expected_example_lines());
    for var in &example {
        assert!(is_env_var(&var.name), "herald.env.example names {}, which Herald never reads\n{}", var.name, hint());
    }
    let names: Vec<&str> = example.iter().map(|v| v.name.as_str()).collect();
    let expected: Vec<&str> = ENV_VARS.iter().map(|v| v.name).collect();
    assert_eq!(names, expected, "every ENV_VARS name once, in order\n{}", hint());
    for (var, env) in example.iter().zip(ENV_VARS) {
        assert_eq!(var.doc, env.doc, "the comment above {} is its ENV_VARS doc\n{}", var.name, hint());
        if var.name == "JWT_SECRET" {
            // Committed, any value is public: compose takes the secret from the operator instead.
            assert!(
                var.commented && var.value.is_empty(),
                "no secret is committed: `# JWT_SECRET=`, not {:?}\n{}",
                var.value,
                hint()
            );
        } else if env.default.is_empty() {
            assert!(
                var.commented && var.value.is_empty(),
                "{} is unset by default: `# {}=`\n{}",
                var.name,
                var.name,
                hint()
            );
        } else {
            assert!(!var.commented, "{} has a default and is set\n{}", var.name, hint());
            assert_eq!(var.value, env.default, "{} default\n{}", var.name, hint());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// deploy/Dockerfile

/// `(INSTRUCTION, arguments)` with continuation lines joined and comments dropped.
fn dockerfile() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in read("deploy/Dockerfile").lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (instruction, args) = current.split_once(char::is_whitespace).unwrap_or((current.as_str(), ""));
                out.push((instruction.to_ascii_uppercase(), args.trim().to_owned()));
                current.clear();
            }
        }
    }
    out
}

/// The instructions of the last stage (what runs).
fn runtime_stage() -> Vec<(String, String)> {
    let all = dockerfile();
    let start = all.iter().rposition(|(i, _)| i == "FROM").expect("a FROM");
    all[start..].to_vec()
}

fn dockerfile_env() -> BTreeMap<String, String> {
    runtime_stage()
        .into_iter()
        .filter(|(i, _)| i == "ENV")
        .filter_map(|(_, args)| args.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

fn dockerfile_exposed_port() -> u16 {
    let exposed: Vec<String> = runtime_stage().into_iter().filter(|(i, _)| i == "EXPOSE").map(|(_, a)| a).collect();
    assert_eq!(exposed.len(), 1, "one EXPOSE: {exposed:?}");
    exposed[0].trim_end_matches("/tcp").parse().unwrap_or_else(|_| panic!("EXPOSE {}", exposed[0]))
}

#[test]
fn the_image_builds_herald_and_runs_it_unprivileged_with_a_healthcheck_on_its_port() {
    let all = dockerfile();
    let froms: Vec<&str> = all.iter().filter(|(i, _)| i == "FROM").map(|(_, a)| a.as_str()).collect();
    assert_eq!(froms, ["rust:1-bookworm AS builder", "debian:bookworm-slim"]);
    // Nothing but the two base images comes from a registry: no `# syntax=` frontend image
    // (BuildKit's built-in frontend runs the cache mounts; deploy/offline/images.sh makes the
    // bases on a machine without a registry).
    assert!(
        !read("deploy/Dockerfile").lines().any(|line| line.trim_start().to_ascii_lowercase().starts_with("# syntax")),
        "a `# syntax=` line pulls the frontend image from a registry at build time"
    );
    let build = all.iter().find(|(i, a)| i == "RUN" && a.contains("cargo build")).expect("a cargo build");
    assert!(build.1.contains("cargo build --release --locked --bin herald"), "{}", build.1);
    assert!(all.iter().any(|(i, a)| i == "RUN" && a.contains("libpq-dev")), "the builder installs libpq-dev");

    let runtime = runtime_stage();
    let installs: Vec<&String> =
        runtime.iter().filter(|(i, a)| i == "RUN" && a.contains("apt-get install")).map(|(_, a)| a).collect();
    assert_eq!(installs.len(), 1);
    let packages = installs[0].split("--no-install-recommends").nth(1).expect("--no-install-recommends");
    let packages: Vec<&str> = packages.split("&&").next().unwrap_or("").split_whitespace().collect();
    assert_eq!(packages, ["libpq5", "ca-certificates", "curl"], "the runtime holds only what herald needs");

    let user =
        runtime.iter().rev().find(|(i, _)| i == "USER").map(|(_, a)| a.clone()).expect("a USER in the runtime stage");
    let name = user.split(':').next().unwrap_or("");
    assert!(!["root", "0", ""].contains(&name), "USER {user} is root");

    let healthcheck = runtime.iter().find(|(i, _)| i == "HEALTHCHECK").map(|(_, a)| a.clone()).expect("HEALTHCHECK");
    assert!(healthcheck.contains("CMD") && healthcheck.contains("/healthz"), "{healthcheck}");

    // The port the image exposes is the one of the documented HERALD_BIND and of its own.
    let example_bind = env_example().into_iter().find(|v| v.name == "HERALD_BIND").expect("HERALD_BIND").value;
    assert_eq!(dockerfile_exposed_port(), port_of(&example_bind));
    assert_eq!(dockerfile_env().get("HERALD_BIND").map(String::as_str), Some("0.0.0.0:8000"));
    assert_eq!(port_of(default_of("HERALD_BIND")), dockerfile_exposed_port());

    let last = |instruction: &str| runtime.iter().rev().find(|(i, _)| i == instruction).map(|(_, a)| a.clone());
    assert_eq!(last("ENTRYPOINT").as_deref(), Some(r#"["herald"]"#));
    assert_eq!(last("CMD").as_deref(), Some(r#"["serve"]"#));
}

// ---------------------------------------------------------------------------------------------
// deploy/nginx.conf, deploy/gen-dev-cert.sh

/// The text of the block that opens with the line `header` (e.g. `location /ws/ {`).
fn block<'a>(conf: &'a str, header: &str) -> &'a str {
    let start = conf.find(header).unwrap_or_else(|| panic!("nginx.conf has no `{header}`")) + header.len();
    let mut depth = 1;
    for (offset, c) in conf[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &conf[start..start + offset];
                }
            }
            _ => {}
        }
    }
    panic!("`{header}` is never closed")
}

/// `conf` from its first line that is exactly `line` (a comment quoting it does not count).
fn from_line<'a>(conf: &'a str, line: &str) -> &'a str {
    let mut offset = 0;
    for l in conf.split_inclusive('\n') {
        if l.trim() == line {
            return &conf[offset..];
        }
        offset += l.len();
    }
    panic!("nginx.conf has no line `{line}`")
}

/// Directive lines of a block (comments dropped), `;` removed.
fn directives(block: &str) -> Vec<String> {
    block
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.trim_end_matches(';').to_owned())
        .collect()
}

fn seconds(value: &str) -> u64 {
    let (number, unit) = value.split_at(value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len()));
    let n: u64 = number.parse().unwrap_or_else(|_| panic!("a duration: {value}"));
    match unit {
        "" | "s" => n,
        "m" => n * 60,
        other => panic!("unit {other} in {value}"),
    }
}

#[test]
fn nginx_upgrades_websockets_and_outlasts_the_server_pings() {
    let conf = read("deploy/nginx.conf");
    let ws = directives(block(&conf, "location /ws/ {"));
    for needed in [
        "proxy_pass http://herald",
        "proxy_http_version 1.1",
        "proxy_set_header Upgrade $http_upgrade",
        "proxy_set_header Connection \"upgrade\"",
        "proxy_buffering off",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for",
        "proxy_set_header X-Forwarded-Proto $scheme",
    ] {
        assert!(ws.iter().any(|d| d == needed), "location /ws/ lacks `{needed};`: {ws:?}");
    }
    let read_timeout = ws
        .iter()
        .find_map(|d| d.strip_prefix("proxy_read_timeout "))
        .map(|v| seconds(v.trim()))
        .expect("proxy_read_timeout in location /ws/");
    for name in ["HERALD_WS_PING_INTERVAL_SECS", "HERALD_WS_PING_TIMEOUT_SECS"] {
        let default: u64 = default_of(name).parse().expect("a number of seconds");
        assert!(read_timeout > default, "proxy_read_timeout {read_timeout}s must exceed {name} ({default}s)");
    }

    let https = from_line(&conf, "listen 443 ssl;");
    let rest = directives(block(https, "location / {"));
    for needed in [
        "proxy_pass http://herald",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for",
        "proxy_set_header X-Forwarded-Proto $scheme",
    ] {
        assert!(rest.iter().any(|d| d == needed), "the HTTPS location / lacks `{needed};`: {rest:?}");
    }

    // The upstream is the compose service on the image's port, re-resolved through Docker's DNS
    // (scaled replicas join without a reload); TLS uses gen-dev-cert.sh's files.
    let all = directives(&conf);
    let upstream = directives(block(&conf, "upstream herald {"));
    let server = format!("server herald:{} resolve", dockerfile_exposed_port());
    assert!(upstream.contains(&server), "the upstream has `{server};`: {upstream:?}");
    assert!(upstream.iter().any(|d| d.starts_with("zone ")), "`resolve` needs a shared zone: {upstream:?}");
    assert!(all.iter().any(|d| d.starts_with("resolver 127.0.0.11 valid=")), "Docker's DNS as resolver");
    assert!(all.contains(&"ssl_certificate /etc/nginx/certs/herald.crt".to_owned()));
    assert!(all.contains(&"ssl_certificate_key /etc/nginx/certs/herald.key".to_owned()));
    assert!(all.contains(&"return 301 https://$host$request_uri".to_owned()), "port 80 redirects to HTTPS");
    // ... except WebSockets, whose URL carries the token: refused, never put in a Location.
    let plain = from_line(&conf[..conf.len() - https.len()], "listen 80;");
    let plain_ws = directives(block(plain, "location /ws {"));
    assert!(plain_ws.iter().any(|d| d.starts_with("return 403 ")), "port 80 answers /ws with 403: {plain_ws:?}");
    for query in ["$request_uri", "$args", "$query_string", "$is_args", "$arg_token"] {
        assert!(!plain_ws.iter().any(|d| d.contains(query)), "port 80 /ws must not echo {query}: {plain_ws:?}");
    }
    let script = read("deploy/gen-dev-cert.sh");
    for needed in
        ["herald.crt", "herald.key", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days 365"]
    {
        assert!(script.contains(needed), "gen-dev-cert.sh: {needed}");
    }
    assert!(read(".gitignore").lines().any(|l| l.trim() == "deploy/certs/"), "certificates are never committed");
}
