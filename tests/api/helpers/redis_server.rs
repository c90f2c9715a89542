//! A private `redis-server` per test on a loopback port, stopped by its own PID on Drop; `stop()`
//! and `restart()` (same port) for outage tests. Never touches the shared Redis.
//!
//! redis-server cannot bind port 0 and report the port, so the port is chosen, then proven
//! ours: a candidate from the kernel's free ports is passed to redis-server, and the start only
//! counts once the server answering on it reports our child's PID (`INFO server`). When another
//! process took the port first, our redis-server exits on its failed bind and `start()` tries
//! another candidate (bounded). `restart()` re-binds the port this server owned before its stop
//! (the outage is the scenario: nothing can hold a port for a process that is down) and proves
//! it the same way, so a port taken meanwhile fails loudly instead of talking to a stranger.

use super::{candidate_ports, poll_blocking, WAIT};
use std::process::{Child, Command, Stdio};

/// Candidate ports tried by `start()` before giving up.
const START_ATTEMPTS: usize = 5;

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let mut server = RedisServer { port: candidate_ports(1)[0], child: None };
            match server.try_start() {
                Ok(()) => return server,
                Err(why) => failures.push(format!("port {}: {why}", server.port)),
            }
        }
        panic!("redis-server did not start on any of {START_ATTEMPTS} ports: {failures:#?}");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub fn restart(&mut self) {
        self.try_start().unwrap_or_else(|why| panic!("redis-server did not start again on port {}: {why}", self.port));
    }

    /// Starts redis-server on `self.port`; `Ok` once the server answering there is this child.
    fn try_start(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "already running");
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        let pid = child.id().to_string();
        let started = poll_blocking(WAIT, || {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited ({status}): the port is taken"));
            }
            match self.info_field("process_id") {
                Some(answering) if answering == pid => Ok(()),
                Some(answering) => Err(format!("answered by another server (PID {answering})")),
                None => Err("no answer".to_owned()),
            }
        });
        match started {
            Ok(()) => {
                self.child = Some(child);
                Ok(())
            }
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(why)
            }
        }
    }

    /// Kills the server (SIGKILL, as a crash) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP (`pause`) or SIGCONT (`resume`) to this server, by its own PID: a hung Redis that
    /// keeps its connections open.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("a running redis-server").id();
        let sent = Command::new("kill").args([signal, &pid.to_string()]).status().expect("run kill");
        assert!(sent.success(), "kill {signal} {pid}");
    }

    /// Runs a command with redis-cli; `None` when the server does not answer.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let output = Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .filter(|s| !s.is_empty() && !s.starts_with("Could not connect"))
    }

    /// A `name:value` field of `INFO server`.
    fn info_field(&self, name: &str) -> Option<String> {
        let info = self.command(&["INFO", "server"])?;
        info.lines().find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':').map(str::to_owned))
    }

    /// Subscribers of a channel on this server.
    pub fn numsub(&self, channel: &str) -> i64 {
        self.numsub_of(&[channel])[0]
    }

    /// Subscriber counts of `channels`, in one `PUBSUB NUMSUB` (-1 for a channel it did not list).
    pub fn numsub_of(&self, channels: &[&str]) -> Vec<i64> {
        let mut args = vec!["PUBSUB", "NUMSUB"];
        args.extend(channels);
        let out = self.command(&args).unwrap_or_default();
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        channels
            .iter()
            .map(|name| {
                lines
                    .chunks(2)
                    .find(|pair| pair[0] == *name)
                    .and_then(|pair| pair.get(1))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(-1)
            })
            .collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
