//! This repository's docker-compose.yml run as a project of its own (`Stack`): bounded `docker
//! compose` and `docker` commands, the project's containers by service, a replica's health and
//! its metrics read inside it; `down -v` on Drop removes every container, network and volume the
//! project made (the images stay: they are the build cache the next run starts from).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The compose command here: `$HERALD_COMPOSE` if set (e.g. `docker compose`), else the Compose
/// v2 plugin when the docker client has it, else Debian's `docker-compose` (v1.29), which needs
/// `--compatibility` to honour `deploy.replicas`.
fn compose_command() -> Vec<String> {
    if let Ok(command) = std::env::var("HERALD_COMPOSE") {
        return command.split_whitespace().map(str::to_owned).collect();
    }
    let plugin = Command::new("docker")
        .args(["compose", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if plugin {
        vec!["docker".into(), "compose".into()]
    } else {
        vec!["docker-compose".into(), "--compatibility".into()]
    }
}

/// Runs `program args` with `env` added, killed after `within` (coreutils' `timeout`); stdout on
/// success, else the exit status with stdout and stderr.
pub fn run_bounded(
    program: &str,
    args: &[&str],
    env: &[(String, String)],
    cwd: &Path,
    within: Duration,
) -> Result<String, String> {
    let started = Instant::now();
    let out = Command::new("timeout")
        .arg("--kill-after=10")
        .arg(within.as_secs().max(1).to_string())
        .arg(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "`{program} {}` failed after {:.1?} ({}):\n{stdout}\n{}",
            args.join(" "),
            started.elapsed(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The replicas' ops listener (`HERALD_OPS_BIND` in docker-compose.yml): `/readyz`, `/metrics`.
pub const OPS_PORT: u16 = 9000;

/// The replicas' main listener (`HERALD_BIND`), the one nginx proxies.
pub const MAIN_PORT: u16 = 8000;

pub struct Stack {
    /// The compose project name: prefixes its containers, networks and volumes.
    pub project: String,
    pub root: PathBuf,
    pub https_port: u16,
    pub prometheus_port: u16,
    /// The password Redis requires (`REDIS_PASSWORD`, made for this stack).
    pub redis_password: String,
    command: Vec<String>,
    env: Vec<(String, String)>,
}

impl Stack {
    /// The project `project` of this repository's compose file, nginx published on
    /// 127.0.0.1:`https_port` (and `http_port`), Prometheus on 127.0.0.1:`prometheus_port`, the
    /// replicas sharing `jwt_secret`, PostgreSQL's and Redis' passwords random (the operator's
    /// `openssl rand -hex 32`). Nothing starts until `compose(["up", ...])`.
    pub fn new(project: &str, https_port: u16, http_port: u16, prometheus_port: u16, jwt_secret: &str) -> Stack {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        // Debian's docker client (20.10, /usr/bin) has BuildKit built in; a newer client without
        // the buildx plugin refuses DOCKER_BUILDKIT=1, so Debian's comes first in PATH.
        let path = format!("/usr/bin:{}", std::env::var("PATH").unwrap_or_default());
        let redis_password = format!("{:032x}", rand::random::<u128>());
        let env = [
            ("JWT_SECRET", jwt_secret.to_owned()),
            ("POSTGRES_PASSWORD", format!("{:032x}", rand::random::<u128>())),
            ("REDIS_PASSWORD", redis_password.clone()),
            ("HERALD_HTTPS_PORT", format!("127.0.0.1:{https_port}")),
            ("HERALD_HTTP_PORT", format!("127.0.0.1:{http_port}")),
            ("HERALD_PROMETHEUS_PORT", format!("127.0.0.1:{prometheus_port}")),
            ("DOCKER_BUILDKIT", "1".to_owned()),
            ("COMPOSE_DOCKER_CLI_BUILD", "1".to_owned()),
            ("COMPOSE_PROFILES", "monitoring".to_owned()),
            ("PATH", path),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Stack {
            project: project.to_owned(),
            root,
            https_port,
            prometheus_port,
            redis_password,
            command: compose_command(),
            env,
        }
    }

    /// `<compose> -p <project> <args>`, bounded by `within`.
    pub fn compose(&self, args: &[&str], within: Duration) -> Result<String, String> {
        let mut all: Vec<&str> = self.command[1..].iter().map(String::as_str).collect();
        all.extend(["-p", &self.project]);
        all.extend(args);
        run_bounded(&self.command[0], &all, &self.env, &self.root, within)
    }

    /// `docker <args>`, bounded by `within`.
    pub fn docker(&self, args: &[&str], within: Duration) -> Result<String, String> {
        run_bounded("docker", args, &self.env, &self.root, within)
    }

    /// The names of `service`'s running containers, sorted.
    pub fn containers(&self, service: &str) -> Vec<String> {
        let project = format!("label=com.docker.compose.project={}", self.project);
        let service = format!("label=com.docker.compose.service={service}");
        let out = self
            .docker(
                &["ps", "--filter", &project, "--filter", &service, "--format", "{{.Names}}"],
                Duration::from_secs(30),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let mut names: Vec<String> = out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
        names.sort();
        names
    }

    /// A container's state and health, e.g. `running healthy` (`running` without a healthcheck).
    pub fn state(&self, container: &str) -> String {
        let format = "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}";
        self.docker(&["inspect", "-f", format, container], Duration::from_secs(30))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|e| format!("unknown ({e})"))
    }

    /// GET `path` on a replica's ops listener, from inside its container (curl is in the image):
    /// the body, a newline and the status.
    pub fn inside(&self, container: &str, path: &str) -> Result<String, String> {
        self.inside_at(container, OPS_PORT, path)
    }

    /// GET `path` on `port` of a replica, from inside its container.
    pub fn inside_at(&self, container: &str, port: u16, path: &str) -> Result<String, String> {
        let url = format!("http://127.0.0.1:{port}{path}");
        self.docker(
            &["exec", container, "curl", "-sS", "--max-time", "5", "-w", "\n%{http_code}", &url],
            Duration::from_secs(15),
        )
    }

    /// The WebSocket sessions open on a replica (`herald_open_sockets`).
    pub fn open_sockets(&self, container: &str) -> Result<i64, String> {
        let metrics = self.inside(container, "/metrics")?;
        metrics
            .lines()
            .find(|l| l.starts_with("herald_open_sockets"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no herald_open_sockets in {container}'s metrics"))
    }

    /// The compose network `name` of this project (`<project>_<name>`).
    pub fn network(&self, name: &str) -> String {
        format!("{}_{name}", self.project)
    }

    /// The last lines of every service's log (printed when a test fails).
    pub fn logs(&self) -> String {
        self.compose(&["logs", "--no-color", "--tail", "40"], Duration::from_secs(60)).unwrap_or_else(|e| e)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- compose logs ({}) ---\n{}", self.project, self.logs());
        }
        if let Err(e) = self.compose(&["down", "-v", "--remove-orphans", "-t", "5"], Duration::from_secs(180)) {
            eprintln!("compose down failed: {e}");
        }
    }
}
