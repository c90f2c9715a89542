//! docker-compose.yml: services, start order, no fixed host port on the scaled service, secrets.

use super::dockerfile::{dockerfile_env, dockerfile_exposed_port};
use super::env_example::env_example;
use super::{is_env_var, read};
use herald::config::{Config, DatabaseUrl, RedisTarget, PLACEHOLDER_SECRETS};
use serde_yaml::Value;
use std::collections::BTreeMap;

pub(super) fn compose() -> Value {
    serde_yaml::from_str(&read("docker-compose.yml")).expect("docker-compose.yml is YAML")
}

pub(super) fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"].get(name).unwrap_or_else(|| panic!("docker-compose.yml has no service `{name}`"))
}

pub(super) fn text(value: &Value) -> String {
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
    let command = strings(&redis["command"]);
    assert_eq!(command[..5], ["redis-server", "--save", "", "--appendonly", "no"]);
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
    assert_eq!(dns["port"].as_u64(), Some(u64::from(ops_port())), "the replicas' ops listener (HERALD_OPS_BIND)");
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

/// What an operator exports before `docker compose up` (`openssl rand -hex 32`), drawn for this
/// run: a secret written here would be committed, and refused on the replicas' 0.0.0.0.
static OPERATOR_SECRET: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use rand::Rng;
    let bytes: [u8; 32] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
});

const OPERATOR_POSTGRES_PASSWORD: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const OPERATOR_REDIS_PASSWORD: &str = "f9e8d7c6b5a40392817f6e5d4c3b2a10";

/// The variables compose refuses to start without, each as the operator exports it.
fn operator() -> BTreeMap<String, String> {
    let operator = [
        ("JWT_SECRET", OPERATOR_SECRET.as_str()),
        ("POSTGRES_PASSWORD", OPERATOR_POSTGRES_PASSWORD),
        ("REDIS_PASSWORD", OPERATOR_REDIS_PASSWORD),
    ];
    operator.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The port of the replicas' ops listener (`HERALD_OPS_BIND` in their compose environment).
pub(super) fn ops_port() -> u16 {
    let bind = environment(service(&compose(), "herald")).remove("HERALD_OPS_BIND").expect("HERALD_OPS_BIND");
    bind.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("a port in {bind}"))
}

#[test]
fn nodes_share_postgres_redis_and_a_secret_and_do_not_migrate_themselves() {
    let compose = compose();
    let herald = service(&compose, "herald");
    let migrate = service(&compose, "migrate");
    assert_eq!(env_files(herald), ["deploy/herald.env.example"]);

    let effective = node_environment(herald, &operator()).expect("compose interpolates with the three exported");
    let config = Config::from_lookup(|k| effective.get(k).cloned()).expect("a node's environment is a valid config");
    config.check_serving().expect("a node's environment may serve");
    let DatabaseUrl::Postgres(database_url) = &config.database else { panic!("nodes use PostgreSQL") };
    assert_eq!(database_url, &format!("postgres://herald:{OPERATOR_POSTGRES_PASSWORD}@postgres:5432/herald"));
    let redis_url = format!("redis://:{OPERATOR_REDIS_PASSWORD}@redis:6379/0");
    assert_eq!(config.redis, Some(RedisTarget::Standalone(redis_url)), "the password Redis requires");
    let postgres = resolved_environment(service(&compose, "postgres"), &operator()).expect("interpolates");
    assert_eq!(postgres["POSTGRES_PASSWORD"], OPERATOR_POSTGRES_PASSWORD, "the password PostgreSQL is made with");
    let redis = service(&compose, "redis");
    let command: Vec<String> =
        strings(&redis["command"]).iter().map(|c| interpolate(c, &operator()).expect("interpolates")).collect();
    let requirepass = command.iter().position(|c| c == "--requirepass").expect("redis-server --requirepass");
    assert_eq!(command.get(requirepass + 1).map(String::as_str), Some(OPERATOR_REDIS_PASSWORD), "{command:?}");
    let redis_env = resolved_environment(redis, &operator()).expect("interpolates");
    assert_eq!(redis_env["REDISCLI_AUTH"], OPERATOR_REDIS_PASSWORD, "the healthcheck's redis-cli authenticates");
    let ops = config.ops_bind.expect("the ops endpoints on a listener of their own (HERALD_OPS_BIND)");
    assert!(ops.ip().is_unspecified(), "Prometheus scrapes it from another container: {ops}");
    assert_ne!(ops.port(), config.bind.port(), "not the port nginx proxies");
    assert!(!config.migrate_on_start, "the migrate service migrates; nodes must not");
    assert!(!config.uses_development_secret(), "replicas need one shared JWT_SECRET, not one random each");
    assert_eq!(config.jwt.secret.0, *OPERATOR_SECRET, "every replica gets the operator's secret");
    assert!(config.bind.ip().is_unspecified(), "nginx reaches nodes from another container: {}", config.bind);
    assert_eq!(config.bind.port(), dockerfile_exposed_port());

    // The migrator needs the database password only: no JWT_SECRET, no Redis.
    let database_only = BTreeMap::from([("POSTGRES_PASSWORD".to_owned(), OPERATOR_POSTGRES_PASSWORD.to_owned())]);
    let mut migrate_env = dockerfile_env();
    migrate_env.extend(resolved_environment(migrate, &database_only).expect("migrate needs no JWT_SECRET"));
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
    for value in [None, Some(String::new())] {
        let mut operator = operator();
        match value {
            None => operator.remove("JWT_SECRET"),
            Some(empty) => operator.insert("JWT_SECRET".to_owned(), empty),
        };
        let err = node_environment(herald, &operator).expect_err("compose must refuse to interpolate");
        assert!(err.contains("JWT_SECRET") && err.contains("32 bytes"), "{err}");
    }

    // And were compose to pass nothing, the node itself would refuse: it listens on 0.0.0.0.
    let mut effective = node_environment(herald, &operator()).expect("interpolates");
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

/// Every `${NAME…}` of `NAME` in docker-compose.yml is `${NAME:?…}`: unset or empty, compose
/// refuses to start rather than run with no password.
fn interpolations_of(name: &str) -> Vec<String> {
    let file = read("docker-compose.yml");
    let opening = format!("${{{name}");
    file.match_indices(&opening)
        .map(|(at, _)| {
            let end = file[at..].find('}').expect("a closed ${…}");
            file[at..=at + end].to_owned()
        })
        .collect()
}

#[test]
fn compose_takes_both_passwords_from_the_operator_and_refuses_to_start_without_them() {
    let compose = compose();
    for (name, uses) in [("POSTGRES_PASSWORD", 3), ("REDIS_PASSWORD", 3)] {
        let found = interpolations_of(name);
        assert_eq!(found.len(), uses, "{name} is used where it is needed: {found:?}");
        for expression in &found {
            assert!(expression.starts_with(&format!("${{{name}:?")), "{expression}: required, no default");
        }
        for value in [None, Some(String::new())] {
            let mut operator = operator();
            match value {
                None => operator.remove(name),
                Some(empty) => operator.insert(name.to_owned(), empty),
            };
            let err = node_environment(service(&compose, "herald"), &operator).expect_err("compose refuses");
            assert!(err.contains(name) && err.contains("openssl rand -hex 32"), "{err}");
        }
    }
    // No service but the one that needs it sees it; the migrator needs no Redis.
    let migrate = resolved_environment(service(&compose, "migrate"), &BTreeMap::new());
    assert!(migrate.expect_err("migrate needs the database password").contains("POSTGRES_PASSWORD"));
    assert!(!read("docker-compose.yml").contains("herald:herald@"), "the old committed database password");
}

#[test]
fn compose_runs_the_replicas_read_only_without_capabilities_within_limits() {
    let compose = compose();
    for name in ["herald", "migrate"] {
        let s = service(&compose, name);
        assert_eq!(s["read_only"].as_bool(), Some(true), "{name}: read_only");
        assert_eq!(strings(&s["cap_drop"]), ["ALL"], "{name}: cap_drop");
        assert!(s.get("cap_add").is_none(), "{name}: no cap_add");
        assert_eq!(strings(&s["security_opt"]), ["no-new-privileges:true"], "{name}: security_opt");
        assert!(s.get("privileged").is_none() && s.get("user").is_none(), "{name}: the image's unprivileged user");
    }
    let herald = service(&compose, "herald");
    let tmpfs = strings(&herald["tmpfs"]);
    assert!(tmpfs.iter().any(|t| t.starts_with("/tmp:")), "a small /tmp: {tmpfs:?}");
    // docker-compose 1.29 honours `mem_limit`/`pids_limit` (service level) in this file format;
    // `deploy.resources` it honours only with --compatibility, and never `pids`.
    let memory = text(&herald["mem_limit"]);
    let bytes: u64 = match memory.strip_suffix('g') {
        Some(gib) => gib.parse::<u64>().expect("a number of GiB") << 30,
        None => memory.strip_suffix('m').expect("m or g").parse::<u64>().expect("a number of MiB") << 20,
    };
    assert!((256 << 20..=4 << 30).contains(&bytes), "mem_limit {memory}");
    let pids = herald["pids_limit"].as_u64().expect("pids_limit");
    assert!((256..=4096).contains(&pids), "pids_limit {pids}");
    let deploy: Vec<String> = herald["deploy"].as_mapping().expect("deploy").keys().map(text).collect();
    assert_eq!(deploy, ["replicas"], "limits at service level, not under deploy");

    // The healthcheck asks the ops listener's /readyz: readiness, off the proxied port.
    let test = strings(&herald["healthcheck"]["test"]);
    assert_eq!(test[0], "CMD-SHELL");
    let check = interpolate(&test[1], &BTreeMap::new()).expect("no operator variable");
    assert!(check.contains("/readyz") && check.contains("${HERALD_OPS_BIND##*:}"), "{check}");
}
