//! `Config::from_lookup` and `check_serving` on variable maps: defaults, every problem at once,
//! the secret and key policy applied, secrets never repeated.

use super::keys::tests::P384_PUBLIC_PEM;
use super::*;
use std::collections::HashMap;
use std::path::PathBuf;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

/// A secret drawn for this run: one written here would be committed, and refused beyond loopback.
fn random_secret() -> String {
    super::jwt::random_secret()
}

#[test]
fn redis_is_one_server_or_a_cluster_named_by_its_seeds_never_both() {
    let one = config(&[("REDIS_URL", "redis://r:6379/0")]).expect("valid");
    assert_eq!(one.redis, Some(RedisTarget::Standalone("redis://r:6379/0".into())));
    let cluster = config(&[("REDIS_CLUSTER_URLS", "redis://a:7000, redis://b:7000,")]).expect("valid");
    assert_eq!(cluster.redis, Some(RedisTarget::Cluster(vec!["redis://a:7000".into(), "redis://b:7000".into()])));
    let both = config(&[("REDIS_URL", "redis://r:6379"), ("REDIS_CLUSTER_URLS", "redis://a:7000")]);
    assert!(both.expect_err("refused").to_string().contains("not both"));
    for bad in [" , ", "a:7000", "redis://a:7000,http://b"] {
        let refused = config(&[("REDIS_CLUSTER_URLS", bad)]).expect_err(bad).to_string();
        assert!(refused.contains("REDIS_CLUSTER_URLS"), "{bad}: {refused}");
    }
}

#[test]
fn nothing_set_gives_a_working_single_node() {
    let cfg = config(&[]).expect("defaults are valid");
    assert_eq!(cfg.bind.to_string(), "127.0.0.1:8000");
    assert_eq!(cfg.database, DatabaseUrl::Sqlite(PathBuf::from("herald.db")));
    assert!(cfg.redis.is_none());
    assert!(cfg.uses_development_secret());
    assert_eq!(cfg.jwt.leeway, Duration::from_secs(30));
    assert_eq!(cfg.max_body_bytes, 64 * 1024);
    assert_eq!(cfg.max_broadcast_body_bytes, 1024 * 1024);
}

#[test]
fn every_bad_variable_is_reported_at_once() {
    let err = config(&[
        ("HERALD_BIND", "nope"),
        ("DATABASE_URL", "mysql://x"),
        ("JWT_ALGORITHM", "HS512"),
        ("HERALD_DB_POOL_SIZE", "0"),
        ("HERALD_MIGRATE_ON_START", "maybe"),
    ])
    .expect_err("all invalid");
    let text = err.to_string();
    for name in ["HERALD_BIND", "DATABASE_URL", "JWT_ALGORITHM", "HERALD_DB_POOL_SIZE", "HERALD_MIGRATE_ON_START"] {
        assert!(text.contains(name), "{name} missing from {text}");
    }
    assert_eq!(err.problems().len(), 5);
}

#[test]
fn asymmetric_algorithms_need_a_key_file() {
    let err = config(&[("JWT_ALGORITHM", "RS256")]).expect_err("no key file");
    assert!(err.to_string().contains("JWT_PUBLIC_KEY_FILE"));
}

#[test]
fn database_urls_pick_the_backend_and_debug_hides_passwords() {
    let pg = config(&[("DATABASE_URL", "postgres://u:hunter2@localhost/db")]).expect("valid");
    assert!(matches!(pg.database, DatabaseUrl::Postgres(_)));
    assert!(!format!("{:?}", pg).contains("hunter2"));
    let lite = config(&[("DATABASE_URL", "sqlite:///tmp/x.db")]).expect("valid");
    assert_eq!(lite.database, DatabaseUrl::Sqlite(PathBuf::from("/tmp/x.db")));
    let drawn = random_secret();
    let secret = config(&[("JWT_SECRET", &drawn)]).expect("valid");
    assert!(!format!("{:?}", secret).contains(&drawn[..16]));
    assert!(!secret.uses_development_secret());
}

#[test]
fn a_short_or_placeholder_secret_is_refused_without_repeating_it() {
    let shortest = "s".repeat(MIN_SECRET_BYTES);
    assert!(!config(&[("JWT_SECRET", &shortest)]).expect("32 bytes is enough").uses_development_secret());
    let short = "s".repeat(MIN_SECRET_BYTES - 1);
    let shouted = PLACEHOLDER_SECRETS[0].to_ascii_uppercase();
    let refused = [short.as_str(), "bench-secret-0123456789abcdef", &shouted]
        .into_iter()
        .chain(PLACEHOLDER_SECRETS.iter().copied());
    for secret in refused {
        let err = config(&[("JWT_SECRET", secret)]).expect_err(secret);
        assert_eq!(err.problems().len(), 1, "{err}");
        assert!(err.problems()[0].to_string().starts_with("JWT_SECRET: "), "{err}");
        assert!(!err.to_string().contains(secret), "the message repeats the secret: {err}");
    }
    let err = config(&[("JWT_SECRET", &short)]).expect_err("31 bytes");
    assert!(err.to_string().contains("31 bytes"), "{err}");
}

#[test]
fn one_problem_is_one_line_and_several_are_all_reported() {
    let one = config(&[("JWT_SECRET", "short")]).expect_err("short secret");
    assert_eq!(one.to_string().lines().count(), 1, "{one}");
    assert!(one.to_string().starts_with("invalid configuration: JWT_SECRET: "), "{one}");

    let several = config(&[("JWT_SECRET", "short"), ("JWT_ALGORITHM", "HS512"), ("HERALD_BIND", "nope")])
        .expect_err("three problems");
    assert_eq!(several.problems().len(), 3, "{several}");
    assert_eq!(several.to_string().lines().count(), 4, "a count, then one line each: {several}");

    let key = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(key.path(), "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n").expect("write");
    let key_path = key.path().to_string_lossy().into_owned();
    let bad_key = config(&[("JWT_ALGORITHM", "RS256"), ("JWT_PUBLIC_KEY_FILE", &key_path), ("HERALD_BIND", "nope")])
        .expect_err("a key that does not parse");
    let text = bad_key.to_string();
    assert!(text.contains("JWT_PUBLIC_KEY_FILE: ") && text.contains("HERALD_BIND"), "{text}");
}

#[test]
fn a_public_key_algorithm_ignores_the_secret_but_not_its_key() {
    let key = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(key.path(), P384_PUBLIC_PEM).expect("write");
    let key_path = key.path().to_string_lossy().into_owned();
    let err = config(&[("JWT_ALGORITHM", "ES256"), ("JWT_PUBLIC_KEY_FILE", &key_path), ("JWT_SECRET", "short")])
        .expect_err("a P-384 key for ES256");
    assert_eq!(err.problems().len(), 1, "the unused secret is not a problem: {err}");
    assert!(
        err.problems()[0].to_string().starts_with("JWT_PUBLIC_KEY_FILE: ")
            && err.problems()[0].to_string().contains("P-256"),
        "{err}"
    );
}

#[test]
fn a_development_secret_serves_on_loopback_only() {
    for bind in ["127.0.0.1:0", "127.0.0.2:8000", "[::1]:8000", "[::ffff:127.0.0.1]:8000"] {
        let cfg = config(&[("HERALD_BIND", bind)]).expect("valid");
        assert!(cfg.uses_development_secret(), "{bind}");
        cfg.check_serving().unwrap_or_else(|err| panic!("{bind}: {err}"));
    }
    for bind in ["0.0.0.0:8000", "[::]:8000", "10.0.0.5:8000"] {
        let cfg = config(&[("HERALD_BIND", bind)]).expect("other commands (migrate, prune) may run");
        assert!(!cfg.uses_development_secret(), "no token mint on {bind}");
        let err = cfg.check_serving().expect_err(bind);
        assert_eq!(err.to_string().lines().count(), 1, "{err}");
        assert!(err.to_string().contains("JWT_SECRET") && err.to_string().contains(bind), "{err}");
        let secret = random_secret();
        let cfg = config(&[("HERALD_BIND", bind), ("JWT_SECRET", &secret)]).expect("valid");
        cfg.check_serving().unwrap_or_else(|err| panic!("{bind} with a secret: {err}"));
    }
}

#[test]
fn a_secret_committed_to_the_repository_serves_on_loopback_only() {
    for secret in COMMITTED_SECRETS {
        let cfg = config(&[("HERALD_BIND", "127.0.0.1:0"), ("JWT_SECRET", secret)]).expect("valid");
        cfg.check_serving().unwrap_or_else(|err| panic!("tests serve on loopback: {err}"));
        for bind in ["0.0.0.0:8000", "[::]:8000", "10.0.0.5:8000"] {
            let shouted = secret.to_ascii_uppercase();
            let cfg = config(&[("HERALD_BIND", bind), ("JWT_SECRET", &shouted)]).expect("other commands may run");
            let err = cfg.check_serving().expect_err(bind).to_string();
            assert!(err.starts_with("invalid configuration: JWT_SECRET: ") && err.contains(bind), "{err}");
            assert!(err.contains("committed") && !err.to_ascii_uppercase().contains(&shouted), "{err}");
        }
    }
}

#[test]
fn every_variable_of_the_table_is_read() {
    let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
    Config::from_lookup(|name| {
        asked.borrow_mut().insert(name.to_owned());
        None
    })
    .expect("defaults are valid");
    let asked = asked.into_inner();
    // RUST_LOG is env_logger's, read by the binary.
    for var in ENV_VARS.iter().filter(|var| var.name != RUST_LOG.name) {
        assert!(asked.contains(var.name), "{} is in ENV_VARS but never read", var.name);
    }
    assert!(asked.iter().all(|name| name == HANG_BEFORE_PUBLISH || ENV_VARS.iter().any(|var| var.name == name)));
}

#[test]
fn a_budget_whose_burst_cannot_admit_its_dearest_action_is_refused() {
    let err = config(&[("HERALD_RATE_LIMIT_BURST", "1")]).expect_err("a change costs 2");
    assert!(err.to_string().contains("HERALD_RATE_LIMIT_BURST: must be at least 2"), "{err}");
    let err = config(&[("HERALD_SERVICE_RATE_LIMIT_BURST", "500"), ("HERALD_MAX_BROADCAST_RECIPIENTS", "501")])
        .expect_err("the largest broadcast must fit");
    assert!(err.to_string().contains("HERALD_SERVICE_RATE_LIMIT_BURST: must be at least"), "{err}");
    let fits = config(&[("HERALD_SERVICE_RATE_LIMIT_BURST", "500"), ("HERALD_MAX_BROADCAST_RECIPIENTS", "500")]);
    assert_eq!(fits.expect("valid").service_rate_limit_burst, 500);
}

#[test]
fn a_redis_password_is_accepted_and_never_shown() {
    let url = "redis://:s3cret-pass@r:6379/0";
    let one = config(&[("REDIS_URL", url)]).expect("a URL with a password is valid");
    assert_eq!(one.redis, Some(RedisTarget::Standalone(url.into())), "kept as given, for the client");
    let seeds = "redis://:s3cret-pass@a:7000,redis://:s3cret-pass@b:7000";
    let cluster = config(&[("REDIS_CLUSTER_URLS", seeds)]).expect("seeds with a password are valid");
    for shown in [format!("{one:?}"), format!("{cluster:?}")] {
        assert!(!shown.contains("s3cret-pass"), "{shown}");
        assert!(shown.contains("redis://:***@"), "{shown}");
    }
    for (var, bad) in [("REDIS_URL", "http://:s3cret-pass@r:6379"), ("REDIS_CLUSTER_URLS", "user:s3cret-pass@a:7000")] {
        let refused = config(&[(var, bad)]).expect_err(bad).to_string();
        assert!(refused.contains(var) && !refused.contains("s3cret-pass"), "{refused}");
    }
}

#[test]
fn a_jwks_url_is_https_or_loopback_http_never_with_a_key_file_and_needs_no_secret() {
    let jwks =
        config(&[("JWT_JWKS_URL", "https://idp.example.com/.well-known/jwks.json"), ("HERALD_BIND", "0.0.0.0:8000")])
            .expect("https JWKS");
    let set = jwks.jwt.jwks.as_ref().expect("jwks configured");
    assert_eq!((set.refresh_every, set.cooldown), (Duration::from_secs(300), Duration::from_secs(30)));
    assert!(!jwks.jwt.uses_secret() && !jwks.uses_development_secret());
    jwks.check_serving().expect("no secret needed beyond loopback with a JWKS");
    for loopback in ["http://127.0.0.1:9000/jwks", "http://localhost/jwks", "http://[::1]:80/jwks"] {
        config(&[("JWT_JWKS_URL", loopback)]).expect(loopback);
    }
    for bad in ["http://idp.example.com/jwks", "ftp://127.0.0.1/jwks", "not a url"] {
        let refused = config(&[("JWT_JWKS_URL", bad)]).expect_err(bad).to_string();
        assert!(refused.contains("JWT_JWKS_URL"), "{bad}: {refused}");
    }
    let dir = tempfile_dir();
    let key = dir.join("p384.pem");
    std::fs::write(&key, P384_PUBLIC_PEM).expect("write key");
    let both = config(&[
        ("JWT_JWKS_URL", "https://idp.example.com/jwks"),
        ("JWT_PUBLIC_KEY_FILE", key.to_str().expect("utf-8")),
    ]);
    assert!(both.expect_err("refused").to_string().contains("not both"));
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("herald-config-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
