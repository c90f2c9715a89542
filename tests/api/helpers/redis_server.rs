//! A private `redis-server` per test on a loopback port, stopped by its own PID on Drop; `stop()`
//! and `restart()` (same port) for outage tests. Never touches the shared Redis.
//!
//! The port is a kernel-named candidate, proven ours (`ports.rs`) once the server answering on
//! it reports our child's PID. `restart()` re-binds the port this server owned before its stop
//! and proves it the same way, so a port taken meanwhile fails loudly.

use super::{prove_listening, start_on_candidates, WAIT};
use std::process::{Child, Command, Stdio};

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    /// `--requirepass`, when the test gave one (`start_with_password`).
    password: Option<String>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_requiring(None)
    }

    /// A server that refuses every command until a client authenticates with `password`;
    /// `url()` carries it, `command()` sends it.
    pub fn start_with_password(password: &str) -> RedisServer {
        Self::start_requiring(Some(password.to_owned()))
    }

    fn start_requiring(password: Option<String>) -> RedisServer {
        start_on_candidates("redis-server", 1, |ports| {
            let mut server = RedisServer { port: ports[0], child: None, password: password.clone() };
            server.try_start().map(|()| server)
        })
    }

    /// Its URL, with the password when it requires one.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/", self.port),
            None => self.url_without_password(),
        }
    }

    pub fn url_without_password(&self) -> String {
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
            .args(self.password.iter().flat_map(|password| ["--requirepass", password.as_str()]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        let pid = child.id().to_string();
        prove_listening(&mut child, &[self.port], WAIT, || match self.info_field("process_id") {
            Some(answering) if answering == pid => Ok(()),
            Some(answering) => Err(format!("answered by another server (PID {answering})")),
            None => Err("no answer".to_owned()),
        })
        .map_err(|why| match why {
            super::Unproven::Exited(status) => format!("exited ({status}): the port is taken"),
            other => other.to_string(),
        })?;
        self.child = Some(child);
        Ok(())
    }

    /// Kills the server (SIGKILL, as a crash) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP to this server, by its own PID: a hung Redis that keeps its connections open.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("a running redis-server").id();
        let sent = Command::new("kill").args([signal, &pid.to_string()]).status().expect("run kill");
        assert!(sent.success(), "kill {signal} {pid}");
    }

    /// Runs a command with redis-cli (authenticated when the server requires a password); `None`
    /// when the server does not answer.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let mut cli = Command::new("redis-cli");
        if let Some(password) = &self.password {
            cli.env("REDISCLI_AUTH", password);
        }
        let output = cli.args(["-p", &self.port.to_string()]).args(args).output().ok()?;
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
