//! `herald` processes started by tests (so they can be SIGKILLed, SIGTERMed, refuse to start or
//! print their banner): each runs from an empty environment in a temp dir of its own, binds the
//! port it is given (`HERALD_BIND=127.0.0.1:0`: the process holds its port from the start and
//! prints it), and is killed by its own PID on Drop.

use super::poll_blocking;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_herald");
/// Longest a process may take to start serving or to exit (a debug build on 2 busy cores).
pub const PROCESS_WAIT: Duration = Duration::from_secs(30);
const BANNER: &str = "Herald listening on http://127.0.0.1:";

pub struct HeraldProcess {
    pub child: Child,
    /// The port from its banner, once `wait_listening` saw it (0 before).
    pub port: u16,
    dir: tempfile::TempDir,
    stdout_lines: mpsc::Receiver<String>,
}

impl HeraldProcess {
    /// `herald <args>` with only `PATH` and `vars` set, working in a fresh temp dir (a SQLite
    /// default lands there). Stdout is read line by line for as long as it runs (a closed pipe
    /// would fail a print); stderr goes to a file (`stderr()`).
    pub fn start(args: &[&str], vars: &[(&str, &str)]) -> HeraldProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        let stderr = std::fs::File::create(dir.path().join("stderr")).expect("stderr file");
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(dir.path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        for (name, value) in vars {
            cmd.env(name, value);
        }
        let mut child = cmd.spawn().expect("start the herald binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, stdout_lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        HeraldProcess { child, port: 0, dir, stdout_lines }
    }

    /// Its working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("stderr")
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    /// The stdout lines printed and not read yet.
    pub fn stdout_so_far(&self) -> Vec<String> {
        self.stdout_lines.try_iter().collect()
    }

    /// Reads stdout until `done` holds for the lines read so far (bounded by `PROCESS_WAIT`);
    /// returns them. Fails the test, with stdout and stderr, when the process does not get there.
    pub fn read_stdout_until(&self, what: &str, mut done: impl FnMut(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + PROCESS_WAIT;
        let mut seen = Vec::new();
        while !done(&seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout_lines.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(e) => panic!(
                    "herald did not print {what} within {PROCESS_WAIT:?} ({e}); stdout: {seen:#?}\nstderr: {}",
                    self.stderr()
                ),
            }
        }
        seen
    }

    /// Reads stdout until `Herald listening on http://127.0.0.1:PORT`; sets `port` and returns
    /// every line up to it.
    pub fn wait_listening(&mut self) -> Vec<String> {
        let lines = self.read_stdout_until("its banner", |seen| seen.last().and_then(|l| banner_port(l)).is_some());
        self.port = lines.last().and_then(|l| banner_port(l)).expect("the banner line");
        lines
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The WebSocket URL with `?token=` (and `&since=`).
    pub fn ws_url(&self, token: &str, since: Option<i64>) -> String {
        match since {
            Some(since) => format!("ws://127.0.0.1:{}/ws/notifications/?token={token}&since={since}", self.port),
            None => format!("ws://127.0.0.1:{}/ws/notifications/?token={token}", self.port),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status once it exited, or `None` if it still runs after `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        poll_blocking(within, || self.child.try_wait().expect("poll the herald process").ok_or(())).ok()
    }

    /// SIGKILL (as a crash) by its own PID, and reap it; its directory stays until Drop.
    pub fn kill(&mut self) {
        // `Child::kill` signals this child's own PID, and not at all once it was reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills it and returns the rest of its stdout (until the pipe closes, bounded).
    pub fn stop(mut self) -> Vec<String> {
        self.kill();
        let deadline = Instant::now() + PROCESS_WAIT;
        let mut rest = Vec::new();
        while let Ok(line) = self.stdout_lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            rest.push(line);
        }
        rest
    }
}

/// The port of a `Herald listening on http://127.0.0.1:PORT` line.
fn banner_port(line: &str) -> Option<u16> {
    line.strip_prefix(BANNER).and_then(|p| p.trim().parse().ok())
}

impl Drop for HeraldProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `herald <args>` to completion in `dir`, with only `PATH` and `vars` set and no stdin.
pub fn run_herald(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).current_dir(dir).args(args);
    for (name, value) in vars {
        cmd.env(name, value);
    }
    cmd.stdin(Stdio::null()).output().expect("run the herald binary")
}
