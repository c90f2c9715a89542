//! A private `redis-server` per test, on a free loopback port, stopped by its own PID on Drop;
//! `stop()` and `restart()` (same port) for outage tests. Never touches the shared Redis.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let mut server = RedisServer { port, child: None };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.command(&["PING"]).as_deref() != Some("PONG") {
            assert!(Instant::now() < deadline, "redis-server did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL, as a crash) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
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
