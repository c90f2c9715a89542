//! SPEC §7 "Secrets", against real `herald serve` processes: a placeholder or short `JWT_SECRET`,
//! a bad public key, or a development secret on a non-loopback address stops the node before it
//! touches anything (exit 2, one line naming the variable); a configured secret mints no tokens.

use crate::helpers::{run_herald, HeraldProcess, PROCESS_WAIT, SECRET};
use herald::config::{Config, MIN_SECRET_BYTES, PLACEHOLDER_SECRETS};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `herald serve` with only `PATH`, a SQLite `DATABASE_URL` in its temp dir and `vars`.
fn serve(vars: &[(&str, &str)]) -> HeraldProcess {
    // Relative to its working directory: the file lands in the process's temp dir.
    let mut all = vec![("DATABASE_URL", "sqlite://herald.db")];
    all.extend_from_slice(vars);
    HeraldProcess::start(&["serve"], &all)
}

/// Runs `herald serve` with `vars` and asserts it refused to start: exit 2, exactly one line on
/// stderr that names `variable` and never repeats `secret`, no database created.
fn assert_refused(vars: &[(&str, &str)], variable: &str, secret: &str) -> String {
    let mut serve = serve(vars);
    let status = serve.wait_exit(PROCESS_WAIT).unwrap_or_else(|| {
        panic!(
            "herald serve still runs after {PROCESS_WAIT:?}: it should have refused to start\nstdout: {:#?}\nstderr: {}",
            serve.stdout_so_far(),
            serve.stderr()
        )
    });
    let stderr = serve.stderr();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(status.code(), Some(2), "{vars:?}: exit 2 expected, got {status}\nstderr: {stderr}");
    assert_eq!(lines.len(), 1, "{vars:?}: one line on stderr:\n{stderr}");
    assert!(lines[0].starts_with("herald: ") && lines[0].contains(variable), "{vars:?}: names {variable}: {stderr}");
    assert!(!lines[0].contains(secret), "{vars:?}: the message repeats the secret: {stderr}");
    assert!(!serve.dir().join("herald.db").exists(), "{vars:?}: a refused node must not create its database");
    assert!(serve.stdout_so_far().is_empty(), "{vars:?}: nothing on stdout (no token): {:?}", serve.stdout_so_far());
    lines[0].to_owned()
}

/// `GET path` over plain HTTP/1.1 on loopback: the status code and the body.
fn http_get(port: u16, path: &str) -> (u16, String) {
    http_get_with(port, path, "Host: 127.0.0.1\r\n")
}

/// `GET path` with `headers` (each line ending in CRLF) as the only headers but `Connection`.
fn http_get_with(port: u16, path: &str, headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the node");
    stream.set_read_timeout(Some(PROCESS_WAIT)).expect("read timeout");
    write!(stream, "GET {path} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n").expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read the response");
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        panic!("not an HTTP response: {response:?}");
    });
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

/// Runs `openssl` with `args` in `dir` (key generation for the tests).
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("the openssl CLI runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A fresh public key in `dir`: `name.pub.pem`, from `openssl genpkey` with `options`.
fn public_key_file(dir: &Path, name: &str, options: &[&str]) -> String {
    let private = format!("{name}.pem");
    let public = format!("{name}.pub.pem");
    let mut genpkey = vec!["genpkey", "-out", private.as_str()];
    genpkey.extend(options);
    openssl(dir, &genpkey);
    openssl(dir, &["pkey", "-in", &private, "-pubout", "-out", &public]);
    dir.join(public).to_string_lossy().into_owned()
}

#[test]
fn serve_refuses_every_documented_placeholder_secret() {
    assert!(!PLACEHOLDER_SECRETS.is_empty());
    for placeholder in PLACEHOLDER_SECRETS {
        let line =
            assert_refused(&[("HERALD_BIND", "127.0.0.1:0"), ("JWT_SECRET", placeholder)], "JWT_SECRET", placeholder);
        assert!(line.contains("placeholder"), "{line}");
    }
}

#[test]
fn serve_refuses_a_secret_shorter_than_32_bytes() {
    let short = "x".repeat(MIN_SECRET_BYTES - 1);
    for secret in [short.as_str(), "bench-secret-0123456789abcdef"] {
        let line = assert_refused(&[("HERALD_BIND", "127.0.0.1:0"), ("JWT_SECRET", secret)], "JWT_SECRET", secret);
        assert!(line.contains(&format!("{} bytes", secret.len())) && line.contains("32"), "{line}");
    }
}

#[test]
fn a_node_bound_beyond_loopback_without_a_secret_refuses_to_start() {
    let line = assert_refused(&[("HERALD_BIND", "0.0.0.0:0")], "JWT_SECRET", SECRET);
    assert!(line.contains("HERALD_BIND") && line.contains("loopback"), "{line}");

    // `migrate` in the same environment (the image sets HERALD_BIND=0.0.0.0:8000) needs no secret.
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run_herald(
        dir.path(),
        &["migrate"],
        &[
            ("HERALD_BIND", "0.0.0.0:0"),
            ("DATABASE_URL", &format!("sqlite://{}", dir.path().join("herald.db").display())),
        ],
    );
    assert!(out.status.success(), "migrate: {}", String::from_utf8_lossy(&out.stderr));
}

/// Every `JWT_SECRET` value written in this repository (scripts, compose and env files, docs, Rust
/// sources and test helpers), with where it was found: `JWT_SECRET=value` and `JWT_SECRET: value`
/// outside Rust, `("JWT_SECRET", value)` in Rust, a constant resolved to its `&str` literal.
/// Values taken from the environment (`$…`, `${…}`) or computed at run time are not values.
fn committed_jwt_secrets() -> BTreeMap<String, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let files = text_files(&root);
    let constants: BTreeMap<String, String> = files
        .iter()
        .filter(|(path, _)| path.extension().is_some_and(|e| e == "rs"))
        .flat_map(|(_, text)| text.lines().filter_map(rust_str_constant).collect::<Vec<_>>())
        .collect();
    let mut found = BTreeMap::new();
    for (path, text) in &files {
        let rust = path.extension().is_some_and(|e| e == "rs");
        for (n, line) in text.lines().enumerate() {
            for (at, _) in line.match_indices("JWT_SECRET") {
                let rest = &line[at + "JWT_SECRET".len()..];
                let value = if rust { rust_value(rest, &constants) } else { assigned_value(rest) };
                if let Some(value) = value.filter(|v| !v.is_empty() && !v.starts_with('$')) {
                    let place = format!("{}:{}", path.strip_prefix(&root).unwrap_or(path).display(), n + 1);
                    found.entry(value).or_insert(place);
                }
            }
        }
    }
    found
}

/// The repository's text files, without build output and VCS data.
fn text_files(root: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a directory").flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "target" && (name == ".ci" || !name.starts_with('.')) {
                    dirs.push(path);
                }
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                files.push((path, text));
            }
        }
    }
    files
}

/// `NAME` and its value for a line `const NAME: &str = "value";`.
fn rust_str_constant(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().trim_start_matches("pub ").strip_prefix("const ")?;
    let (name, rest) = rest.split_once(": &str = \"")?;
    Some((name.trim().to_owned(), rest.split_once('"')?.0.to_owned()))
}

/// After `"JWT_SECRET"` in Rust: the second element of the tuple, a string literal or a constant.
fn rust_value(rest: &str, constants: &BTreeMap<String, String>) -> Option<String> {
    let rest = rest.strip_prefix('"')?;
    let (_, value) = rest.split_once(',')?;
    let value = value.trim_start().trim_start_matches('&');
    if let Some(literal) = value.strip_prefix('"') {
        return Some(literal.split_once('"')?.0.to_owned());
    }
    let name: String = value.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    constants.get(&name).cloned()
}

/// After `JWT_SECRET` elsewhere: the value of `=value` or `: value`, unquoted.
fn assigned_value(rest: &str) -> Option<String> {
    let value = rest.strip_prefix('=').or_else(|| rest.strip_prefix(": "))?.trim_start();
    let value = value.split(|c: char| c.is_whitespace() || c == ';' || c == '`').next()?;
    Some(value.trim_matches(|c| c == '"' || c == '\'').to_owned())
}

#[test]
fn every_jwt_secret_written_in_the_repository_is_refused_beyond_loopback() {
    let found = committed_jwt_secrets();
    assert!(found.contains_key(SECRET), "the scan finds the test helpers' secret: {found:#?}");
    for (secret, place) in &found {
        let vars = BTreeMap::from([("HERALD_BIND", "0.0.0.0:8000"), ("JWT_SECRET", secret.as_str())]);
        let refusal = match Config::from_lookup(|k| vars.get(k).map(|v| v.to_string())) {
            Err(refused) => refused.to_string(),
            Ok(config) => match config.check_serving() {
                Err(refused) => refused.to_string(),
                Ok(()) => panic!("{place}: a node on 0.0.0.0 serves with the committed JWT_SECRET {secret:?}"),
            },
        };
        assert!(refusal.contains("JWT_SECRET"), "{place}: {refusal}");
        assert!(secret.len() < MIN_SECRET_BYTES || !refusal.contains(secret.as_str()), "{place} repeated: {refusal}");
    }
    // The test helpers' nodes bind loopback, where their secret serves.
    let vars = BTreeMap::from([("HERALD_BIND", "127.0.0.1:0"), ("JWT_SECRET", SECRET)]);
    let config = Config::from_lookup(|k| vars.get(k).map(|v| v.to_string())).expect("valid");
    config.check_serving().expect("the tests' secret serves on loopback");

    // And a real node says so, in one line.
    let line = assert_refused(&[("HERALD_BIND", "0.0.0.0:0"), ("JWT_SECRET", SECRET)], "JWT_SECRET", SECRET);
    assert!(line.contains("committed") && line.contains("0.0.0.0"), "{line}");
}

#[test]
fn a_node_with_a_configured_secret_prints_no_token_and_mints_none_at_dev_token() {
    let mut serve = serve(&[("HERALD_BIND", "127.0.0.1:0"), ("JWT_SECRET", SECRET)]);
    let banner = serve.wait_listening();
    let port = serve.port;
    assert_eq!(http_get(port, "/healthz").0, 200, "the node serves");
    let (status, body) = http_get(port, "/dev/token?user=1&staff=true");
    assert_eq!(status, 404, "/dev/token must not exist with a configured secret: {body}");
    assert!(!body.contains("token\""), "{body}");
    let stdout: Vec<String> = banner.into_iter().chain(serve.stop()).collect();
    assert!(!stdout.iter().any(|l| l.contains("Development token")), "no development token printed: {stdout:#?}");
}

#[test]
fn a_loopback_node_without_a_secret_mints_development_tokens() {
    // The control for the test above: the same request answers on a development node.
    let mut serve = serve(&[("HERALD_BIND", "127.0.0.1:0")]);
    serve.wait_listening();
    let port = serve.port;
    let (status, body) = http_get(port, "/dev/token?user=1");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"token\""), "{body}");
}

#[test]
fn dev_token_answers_only_a_caller_on_this_machine_that_names_the_node_by_a_loopback_name() {
    let mut serve = serve(&[("HERALD_BIND", "127.0.0.1:0")]);
    serve.wait_listening();
    let port = serve.port;
    for host in ["localhost".to_owned(), format!("localhost:{port}"), format!("127.0.0.1:{port}"), "[::1]:1".into()] {
        let (status, body) = http_get_with(port, "/dev/token?user=1", &format!("Host: {host}\r\n"));
        assert_eq!(status, 200, "Host: {host}: {body}");
        assert!(body.contains("\"token\""), "{body}");
    }
    // A page on another site reaching the node by DNS rebinding names its own host; a proxy on
    // this machine makes every caller loopback but says who it forwards for.
    let refused = [
        "Host: attacker.test\r\n".to_owned(),
        format!("Host: attacker.test:{port}\r\n"),
        format!("Host: localhost.attacker.test:{port}\r\n"),
        "Host: 127.0.0.1.nip.io\r\n".to_owned(),
        format!("Host: localhost:{port}\r\nX-Forwarded-For: 203.0.113.7\r\n"),
        format!("Host: localhost:{port}\r\nForwarded: for=203.0.113.7\r\n"),
        format!("Host: localhost:{port}\r\nHost: attacker.test\r\n"),
        String::new(),
    ];
    for headers in refused {
        let (status, body) = http_get_with(port, "/dev/token?user=1", &headers);
        // No Host or two of them do not even parse (400).
        assert!(status == 404 || (status == 400 && headers.matches("Host:").count() != 1), "{headers:?}: {body}");
        assert!(!body.contains("\"token\""), "{headers:?}: {body}");
    }
}

#[test]
fn public_keys_that_do_not_parse_or_are_too_short_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rsa_1024 = public_key_file(dir.path(), "rsa1024", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]);
    let p384 = public_key_file(dir.path(), "p384", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]);
    let rsa_2048 = public_key_file(dir.path(), "rsa2048", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n").expect("write");
    let garbage = garbage.to_string_lossy().into_owned();
    let private = dir.path().join("rsa2048.pem").to_string_lossy().into_owned();

    for (algorithm, key, why) in [
        ("RS256", rsa_1024.as_str(), "1024 bits"),
        ("RS256", garbage.as_str(), "not an RSA public key"),
        ("RS256", private.as_str(), "not an RSA public key"),
        ("RS256", p384.as_str(), "not an RSA public key"),
        ("ES256", p384.as_str(), "P-256"),
        ("ES256", rsa_2048.as_str(), "P-256"),
    ] {
        let vars = [("HERALD_BIND", "127.0.0.1:0"), ("JWT_ALGORITHM", algorithm), ("JWT_PUBLIC_KEY_FILE", key)];
        let line = assert_refused(&vars, "JWT_PUBLIC_KEY_FILE", SECRET);
        assert!(line.contains(why), "{algorithm} with {key}: {line}");
    }

    // The control: a 2048-bit RSA key starts the node.
    let mut serve =
        serve(&[("HERALD_BIND", "127.0.0.1:0"), ("JWT_ALGORITHM", "RS256"), ("JWT_PUBLIC_KEY_FILE", &rsa_2048)]);
    serve.wait_listening();
    let port = serve.port;
    assert_eq!(http_get(port, "/healthz").0, 200);
}
