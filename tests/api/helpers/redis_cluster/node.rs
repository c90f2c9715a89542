//! One `redis-server` process of the cluster on its two proven ports, and `redis-cli` with a bound.

use super::view::info_field;
use super::{CLI_POLL, CLI_TIMEOUT, NODE_START_WAIT, NODE_TIMEOUT_MS};
use crate::helpers::{poll_blocking_every, prove_listening, Unproven};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One `redis-server` of the cluster.
pub(super) struct Node {
    pub(super) port: u16,
    pub(super) bus_port: u16,
    /// Its working directory: `nodes-PORT.conf` and `redis.log`.
    pub(super) dir: tempfile::TempDir,
    pub(super) child: Option<Child>,
    /// Its cluster node id (kept across restarts by its `nodes-PORT.conf`).
    pub(super) id: String,
}

impl Node {
    pub(super) fn conf(&self) -> PathBuf {
        self.dir.path().join(format!("nodes-{}.conf", self.port))
    }

    pub(super) fn log(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    pub(super) fn spawn(&self) -> Child {
        Command::new("redis-server")
            .current_dir(self.dir.path())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-config-file"])
            .arg(self.conf())
            .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            .args(["--cluster-port", &self.bus_port.to_string()])
            // No persistence; a replica's full sync starts at once (the default waits 5 s for
            // more replicas to share a diskless transfer).
            .args(["--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0", "--dir"])
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)")
    }

    /// Starts the node's process on its ports; `Ok` once the server answering on `port` is this
    /// child and it listens on its bus port too. On `Err` the child is gone.
    pub(super) fn start(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "node {} already running", self.port);
        let mut child = self.spawn();
        let pid = child.id().to_string();
        let answers = || {
            let info = cli(&["-p", &self.port.to_string(), "INFO", "server"], CLI_TIMEOUT).ok();
            match info.and_then(|info| info_field(&info, "process_id")) {
                Some(answering) if answering == pid => Ok(()),
                Some(answering) => Err(format!("port {} answered by another server (PID {answering})", self.port)),
                None => Err("no answer".to_owned()),
            }
        };
        prove_listening(&mut child, &[self.port, self.bus_port], NODE_START_WAIT, answers).map_err(
            |why| match why {
                Unproven::Exited(status) => format!("exited ({status}): a port is taken? log: {}", self.log_tail(5)),
                other => other.to_string(),
            },
        )?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL by its own PID (`Child::kill`: never a reaped one) and reap it.
    pub(super) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub(super) fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.log()).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Runs `redis-cli args` with a bound: `Ok(stdout)` when it exits 0 (with `-e`: the command
/// succeeded), else `Err` with its output. The child is killed by its own PID when it overruns.
pub(super) fn cli(args: &[&str], within: Duration) -> Result<String, String> {
    let mut child = Command::new("redis-cli")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("run redis-cli: {e}"))?;
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = reader(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = reader(Box::new(child.stderr.take().expect("piped stderr")));
    let status = poll_blocking_every(CLI_POLL, within, || {
        child.try_wait().map_err(|e| e.to_string())?.ok_or("running".to_owned())
    });
    let status = match status {
        Ok(status) => status,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            let _ = (stdout.join(), stderr.join());
            return Err(format!("redis-cli {args:?} did not finish within {within:?}"));
        }
    };
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    if status.success() && !out.starts_with("Could not connect") {
        Ok(out.trim().to_owned())
    } else {
        Err(format!("redis-cli {args:?}: {status}: {} {}", out.trim(), err.trim()))
    }
}
