//! Starting a server that cannot bind port 0 and report it (nginx, redis-server) and proving
//! its ports: the kernel names candidates, the server binds them, and the test only goes on once
//! the process it started holds them (`prove_listening`, from /proc); when another process took
//! one first, the server fails its bind and `start_on_candidates` tries new ones (bounded).
//! Servers that can bind port 0 do: Herald nodes (`HERALD_BIND=127.0.0.1:0`) and chromedriver.

use super::poll_blocking;
use std::collections::HashSet;
use std::fmt;
use std::net::TcpListener;
use std::process::{Child, ExitStatus};
use std::time::Duration;

/// Candidate port sets tried by `start_on_candidates` before giving up.
const START_ATTEMPTS: usize = 5;

/// Starts `what` on `count` fresh candidate ports with `start` (which spawns it and proves it,
/// e.g. with `prove_listening`), again on new candidates while `start` fails, at most
/// `START_ATTEMPTS` times; then fails the test with every reason.
pub fn start_on_candidates<T>(what: &str, count: usize, mut start: impl FnMut(&[u16]) -> Result<T, String>) -> T {
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        let ports = candidate_ports(count);
        match start(&ports) {
            Ok(started) => return started,
            Err(why) => failures.push(format!("ports {ports:?}: {why}")),
        }
    }
    panic!("{what} did not start on any of {START_ATTEMPTS} candidate port sets: {failures:#?}");
}

/// Why a started server was not proven to hold its ports.
#[derive(Debug)]
pub enum Unproven {
    /// It exited first (typically: one of its ports was taken).
    Exited(ExitStatus),
    /// Not within the bound; the last reason.
    NotYet(String),
}

impl fmt::Display for Unproven {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unproven::Exited(status) => write!(f, "exited ({status})"),
            Unproven::NotYet(why) => write!(f, "{why}"),
        }
    }
}

/// Waits (bounded by `within`) until `answers` holds (e.g. the server on the port reports the
/// child's PID) and the child itself listens on every one of `ports`. On `Err` the child is
/// killed (by its own PID) and reaped.
pub fn prove_listening(
    child: &mut Child,
    ports: &[u16],
    within: Duration,
    mut answers: impl FnMut() -> Result<(), String>,
) -> Result<(), Unproven> {
    let pid = child.id();
    let proven = poll_blocking(within, || {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Unproven::Exited(status));
        }
        answers().map_err(Unproven::NotYet)?;
        let listening = listening_ports(pid);
        match ports.iter().all(|port| listening.contains(port)) {
            true => Ok(()),
            false => Err(Unproven::NotYet(format!("PID {pid} listens on {listening:?}, not on all of {ports:?}"))),
        }
    });
    if proven.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    proven
}

/// `n` distinct loopback ports the kernel reports free right now (all held until all are
/// known). Only candidates: whoever binds them later must prove it did (`listening_ports`).
pub fn candidate_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("free port")).collect();
    held.iter().map(|l| l.local_addr().expect("addr").port()).collect()
}

/// The TCP ports process `pid` itself listens on, read from /proc (its open sockets in state
/// LISTEN), so no stranger on the same port can pass for it.
pub fn listening_ports(pid: u32) -> HashSet<u16> {
    tcp_sockets(pid).into_iter().filter(|s| s.state == LISTEN).map(|s| s.local_port).collect()
}

/// Ports among `candidates` that process `pid` holds an established TCP connection to (e.g. the
/// node a proxied WebSocket landed on), read from /proc, so the process need not help.
pub fn connected_ports(pid: u32, candidates: &[u16]) -> Vec<u16> {
    tcp_sockets(pid)
        .into_iter()
        .filter(|s| s.state == ESTABLISHED && candidates.contains(&s.remote_port))
        .map(|s| s.remote_port)
        .collect()
}

const ESTABLISHED: &str = "01";
const LISTEN: &str = "0A";

struct TcpSocket {
    local_port: u16,
    remote_port: u16,
    state: String,
}

/// The TCP sockets among process `pid`'s open files (from /proc/PID/fd and /proc/PID/net/tcp*).
fn tcp_sockets(pid: u32) -> Vec<TcpSocket> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
                .filter_map(|target| {
                    let target = target.to_string_lossy().into_owned();
                    Some(target.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    let port = |address: &str| address.rsplit(':').next().and_then(|hex| u16::from_str_radix(hex, 16).ok());
    let mut sockets = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(remote), Some(state), Some(inode)) =
                (fields.get(1), fields.get(2), fields.get(3), fields.get(9))
            else {
                continue;
            };
            if let (true, Some(local_port), Some(remote_port)) = (inodes.contains(*inode), port(local), port(remote)) {
                sockets.push(TcpSocket { local_port, remote_port, state: (*state).to_owned() });
            }
        }
    }
    sockets
}
