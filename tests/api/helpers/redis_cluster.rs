//! A private Redis Cluster per test: six `redis-server` processes in cluster mode on loopback
//! ports (three masters, one replica each), each in a temp dir of its own, stopped by their own
//! PIDs on Drop. Never touches a shared Redis.
//!
//! Ports are proven ours as in `redis_server.rs`: each node gets two kernel-named candidates, its
//! client port and its cluster-bus port (`--cluster-port`, so the bus is not `port + 10000`,
//! which may be above 65535 or taken), and a start only counts once the server answering on the
//! client port reports our child's PID and that child listens on both ports; otherwise the node
//! is started again on new candidates (bounded). `restart` and `restart_all` re-bind the same
//! ports with the same `nodes-PORT.conf`, so a node rejoins as the member it was, and prove it
//! the same way (a port taken meanwhile fails loudly).
//!
//! The drills of a cluster test: `kill` (SIGKILL, a crash) and `wait_promoted`, `restart`,
//! `client_kill_pubsub`, `failover` (`CLUSTER FAILOVER` on a replica), `migrate_slot` (a live
//! resharding of one slot), `restart_all`. Every one returns only once the cluster is healthy
//! again (`health`: every running node reports `cluster_state:ok` with all 16384 slots served,
//! all running nodes agree on the slot map and on every running node's role, no running node is
//! flagged failing, no slot is half-migrated, every running replica's link is up), bounded by
//! `CLUSTER_WAIT`; none may be called on the async runtime's thread (they block: use
//! `tokio::task::spawn_blocking`).
//!
//! Counters that a test checks at the end (`errorstat`, `crossslot_errors`, `cmdstat_calls`) are
//! summed over the nodes' `INFO`, plus what each node had counted just before it was killed (a
//! restart zeroes them), so a drill cannot hide an error.
//!
//! What Redis 7.0 does that the drills rely on (checked by hand with `redis-cli`): a subscriber
//! of a shard channel gets an unsolicited `SUNSUBSCRIBE` (count 0) when its node stops serving
//! the slot: on the old owner at its `SETSLOT .. NODE` of a migration (while the slot is only
//! `MIGRATING`, `SPUBLISH` there is still delivered), and on the demoted master of a failover (a
//! subscriber on the promoted replica keeps its subscription and gets messages both before,
//! through replication, and after). `PUBSUB SHARDNUMSUB` accepts channels of any slots on any
//! node (no `CROSSSLOT`, no `MOVED`) and counts only that node's own subscribers, so totals are
//! summed over nodes. `CLIENT KILL TYPE pubsub` closes RESP3 connections in sharded subscribe
//! mode too (flag `P`), but not a connection that has no subscription yet. Replicas start their
//! full sync at once (`--repl-diskless-sync-delay 0`; the default waits 5 s for more replicas).
//!
//! Herald nodes on a cluster: `cluster_on_redis_cluster` (nodes in this process with
//! `REDIS_CLUSTER_URLS`), `shard_channel`, `shard_subscribers` and `wait_shard_subscribers`
//! (`SHARDNUMSUB` over masters, and none on replicas), `blocking` (run a drill off the runtime).

use super::{candidate_ports, listening_ports, poll_blocking};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Nodes of the cluster: `MASTERS` masters with one replica each.
pub const CLUSTER_SIZE: usize = 6;
pub const MASTERS: usize = 3;
pub const CLUSTER_SLOTS: u16 = 16384;
/// `cluster-node-timeout`: a master unreachable this long is failing; its replica promotes
/// itself about two of these (plus a random election delay) after the crash.
pub const NODE_TIMEOUT_MS: u64 = 1000;
/// Bound for the cluster to be healthy after a start, restart, failover, promotion or migration
/// (a debug build of the nodes under test may load the 2 cores meanwhile).
pub const CLUSTER_WAIT: Duration = Duration::from_secs(20);
/// Candidate port pairs tried per node by `start()` before giving up.
const START_ATTEMPTS: usize = 5;
/// Longest a node may take to answer on its ports after its process started.
const NODE_START_WAIT: Duration = Duration::from_secs(10);
/// Longest one `redis-cli` command may take (a killed node refuses at once).
const CLI_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest `redis-cli --cluster create` may take.
const CREATE_TIMEOUT: Duration = Duration::from_secs(60);
/// A manual failover not done after this is asked for again (Redis gives up after 5 s).
const MANUAL_FAILOVER_RETRY: Duration = Duration::from_secs(6);
/// Keys moved per `MIGRATE` while resharding a slot.
const MIGRATE_BATCH: usize = 100;
/// How often a wait for a healthy cluster checks (one check runs ~20 `redis-cli`: polling it
/// as often as `POLL` would load the cores the nodes under test need).
const HEALTH_POLL: Duration = Duration::from_millis(100);
/// How often a `redis-cli` run is checked for its exit (most take a few milliseconds).
const CLI_POLL: Duration = Duration::from_millis(2);

/// `poll_blocking` every `every`: `probe` until it answers `Ok`, or `within` passed (then its
/// last `Err`).
fn poll_blocking_every<T, E>(
    every: Duration,
    within: Duration,
    mut probe: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = Instant::now() + within;
    loop {
        let last = probe();
        if last.is_ok() || Instant::now() >= deadline {
            return last;
        }
        std::thread::sleep(every);
    }
}

/// One `redis-server` of the cluster.
struct Node {
    port: u16,
    bus_port: u16,
    /// Its working directory: `nodes-PORT.conf` and `redis.log`.
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Its cluster node id (kept across restarts by its `nodes-PORT.conf`).
    id: String,
}

impl Node {
    fn conf(&self) -> PathBuf {
        self.dir.path().join(format!("nodes-{}.conf", self.port))
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn spawn(&self) -> Child {
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
    fn start(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "node {} already running", self.port);
        let mut child = self.spawn();
        let pid = child.id();
        let started = poll_blocking(NODE_START_WAIT, || {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited ({status}): a port is taken? log: {}", self.log_tail(5)));
            }
            let answering = cli(&["-p", &self.port.to_string(), "INFO", "server"], CLI_TIMEOUT)
                .ok()
                .and_then(|info| info_field(&info, "process_id"));
            match answering {
                Some(answering) if answering == pid.to_string() => {}
                Some(answering) => {
                    return Err(format!("port {} answered by another server (PID {answering})", self.port))
                }
                None => return Err("no answer".to_owned()),
            }
            let listening = listening_ports(pid);
            if listening.contains(&self.port) && listening.contains(&self.bus_port) {
                Ok(())
            } else {
                Err(format!("PID {pid} listens on {listening:?}, not on both {} and {}", self.port, self.bus_port))
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

    /// SIGKILL by its own PID (`Child::kill`: never a reaped one) and reap it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.log()).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// One member's view of the cluster, as `health` compares them: the owner (node id) of every
/// slot, and the role of every running node (by id).
type Summary = (Vec<Option<String>>, BTreeMap<String, String>);

/// A node as one member's `CLUSTER NODES` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub id: String,
    pub port: u16,
    pub flags: Vec<String>,
    /// The master a replica replicates.
    pub master_id: Option<String>,
    /// Slot ranges served (inclusive).
    pub slots: Vec<(u16, u16)>,
    /// `[slot->-id]` / `[slot-<-id]`: slots being migrated or imported.
    pub open_slots: Vec<String>,
}

impl NodeView {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    pub fn is_master(&self) -> bool {
        self.has_flag("master")
    }

    pub fn is_replica(&self) -> bool {
        self.has_flag("slave")
    }

    pub fn failing(&self) -> bool {
        self.has_flag("fail") || self.has_flag("fail?")
    }

    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|(from, to)| (*from..=*to).contains(&slot))
    }
}

/// Parses `CLUSTER NODES`.
pub fn parse_cluster_nodes(text: &str) -> Vec<NodeView> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 {
                return None;
            }
            // ip:port@cport[,hostname]
            let port = fields[1].split('@').next()?.rsplit(':').next()?.parse().ok()?;
            let mut slots = Vec::new();
            let mut open_slots = Vec::new();
            for field in &fields[8..] {
                if field.starts_with('[') {
                    open_slots.push((*field).to_owned());
                } else if let Some((from, to)) = field.split_once('-') {
                    slots.push((from.parse().ok()?, to.parse().ok()?));
                } else {
                    let slot = field.parse().ok()?;
                    slots.push((slot, slot));
                }
            }
            Some(NodeView {
                id: fields[0].to_owned(),
                port,
                flags: fields[2].split(',').map(str::to_owned).collect(),
                master_id: (fields[3] != "-").then(|| fields[3].to_owned()),
                slots,
                open_slots,
            })
        })
        .collect()
}

/// A `name:value` line of an `INFO` answer.
fn info_field(info: &str, name: &str) -> Option<String> {
    info.lines().find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':').map(str::to_owned))
}

/// The counters of `INFO errorstats` and `INFO commandstats`: `errorstat_NAME` -> count,
/// `cmdstat_NAME` -> calls.
fn parse_counters(info: &str) -> HashMap<String, u64> {
    let mut counters = HashMap::new();
    for line in info.lines().map(str::trim) {
        let Some((name, values)) = line.split_once(':') else { continue };
        let wanted = if name.starts_with("errorstat_") {
            "count"
        } else if name.starts_with("cmdstat_") {
            "calls"
        } else {
            continue;
        };
        let value = values.split(',').find_map(|kv| kv.strip_prefix(wanted)?.strip_prefix('=')?.parse().ok());
        if let Some(value) = value {
            counters.insert(name.to_owned(), value);
        }
    }
    counters
}

/// Runs `redis-cli args` with a bound: `Ok(stdout)` when it exits 0 (with `-e`: the command
/// succeeded), else `Err` with its output. The child is killed by its own PID when it overruns.
fn cli(args: &[&str], within: Duration) -> Result<String, String> {
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

pub struct RedisCluster {
    nodes: Mutex<Vec<Node>>,
    /// Counters of nodes at the moment they were killed (a restart starts them from zero).
    retired: Mutex<HashMap<String, u64>>,
}

impl RedisCluster {
    /// Six nodes, `redis-cli --cluster create ... --cluster-replicas 1`, and a healthy cluster.
    /// Blocks: call it off the async runtime (`spawn_blocking`) when nodes already run on it.
    pub fn start() -> RedisCluster {
        let mut nodes = Vec::with_capacity(CLUSTER_SIZE);
        for _ in 0..CLUSTER_SIZE {
            nodes.push(start_new_node());
        }
        for node in &mut nodes {
            let id = cli(&["-e", "-p", &node.port.to_string(), "CLUSTER", "MYID"], CLI_TIMEOUT)
                .unwrap_or_else(|why| panic!("CLUSTER MYID of {}: {why}", node.port));
            node.id = id;
        }
        let cluster = RedisCluster { nodes: Mutex::new(nodes), retired: Mutex::new(HashMap::new()) };
        let addresses: Vec<String> = cluster.ports().iter().map(|port| format!("127.0.0.1:{port}")).collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addresses.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
        let created = cli(&args, CREATE_TIMEOUT);
        match &created {
            Ok(out) if out.contains("All 16384 slots covered") => {}
            _ => panic!("redis-cli --cluster create failed: {created:?}\n{}", cluster.logs()),
        }
        let took = cluster.wait_healthy("the new cluster");
        let masters = cluster.masters();
        let replicas = cluster.replicas();
        assert_eq!(masters.len(), MASTERS, "masters {masters:?}, replicas {replicas:?}");
        assert_eq!(replicas.len(), CLUSTER_SIZE - MASTERS, "masters {masters:?}, replicas {replicas:?}");
        for master in &masters {
            assert!(cluster.replica_of(*master).is_some(), "master {master} has a replica: {:?}", cluster.view());
        }
        eprintln!("redis cluster: masters {masters:?}, replicas {replicas:?}, healthy {took:?} after create");
        cluster
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Node>> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every node's client port.
    pub fn ports(&self) -> Vec<u16> {
        self.lock().iter().map(|n| n.port).collect()
    }

    /// The ports of the nodes whose process runs.
    pub fn running(&self) -> Vec<u16> {
        self.lock().iter().filter(|n| n.child.is_some()).map(|n| n.port).collect()
    }

    pub fn is_running(&self, port: u16) -> bool {
        self.running().contains(&port)
    }

    /// `REDIS_CLUSTER_URLS`: every node as a seed.
    pub fn seeds_env(&self) -> String {
        self.ports().iter().map(|port| format!("redis://127.0.0.1:{port}")).collect::<Vec<_>>().join(",")
    }

    /// A node's cluster id.
    pub fn node_id(&self, port: u16) -> String {
        self.lock().iter().find(|n| n.port == port).map(|n| n.id.clone()).unwrap_or_else(|| panic!("no node {port}"))
    }

    fn port_of_id(&self, id: &str) -> Option<u16> {
        self.lock().iter().find(|n| n.id == id).map(|n| n.port)
    }

    /// Runs a command with `redis-cli -e -p PORT`; `None` when the node does not answer or the
    /// command fails.
    pub fn command(&self, port: u16, args: &[&str]) -> Option<String> {
        self.try_command(port, args).ok()
    }

    /// As `command`, with the reason of a failure.
    pub fn try_command(&self, port: u16, args: &[&str]) -> Result<String, String> {
        let port = port.to_string();
        let mut all = vec!["-e", "-p", port.as_str()];
        all.extend_from_slice(args);
        cli(&all, CLI_TIMEOUT)
    }

    /// `CLUSTER NODES` as the node at `port` sees the cluster.
    pub fn view_of(&self, port: u16) -> Result<Vec<NodeView>, String> {
        self.try_command(port, &["CLUSTER", "NODES"]).map(|text| parse_cluster_nodes(&text))
    }

    /// The cluster as the first running node that answers sees it.
    pub fn view(&self) -> Vec<NodeView> {
        self.running()
            .into_iter()
            .find_map(|port| self.view_of(port).ok())
            .unwrap_or_else(|| panic!("no running node answers CLUSTER NODES\n{}", self.logs()))
    }

    /// Running masters that serve slots, by port.
    pub fn masters(&self) -> Vec<u16> {
        let running = self.running();
        let mut ports: Vec<u16> = self
            .view()
            .iter()
            .filter(|n| n.is_master() && !n.slots.is_empty() && running.contains(&n.port))
            .map(|n| n.port)
            .collect();
        ports.sort_unstable();
        ports
    }

    /// Running replicas, by port.
    pub fn replicas(&self) -> Vec<u16> {
        let running = self.running();
        let mut ports: Vec<u16> =
            self.view().iter().filter(|n| n.is_replica() && running.contains(&n.port)).map(|n| n.port).collect();
        ports.sort_unstable();
        ports
    }

    /// The running replica of a master.
    pub fn replica_of(&self, master: u16) -> Option<u16> {
        let id = self.node_id(master);
        let running = self.running();
        self.view()
            .iter()
            .find(|n| n.is_replica() && n.master_id.as_deref() == Some(id.as_str()) && running.contains(&n.port))
            .map(|n| n.port)
    }

    /// The master a replica replicates.
    pub fn master_of(&self, replica: u16) -> Option<u16> {
        let id = self.node_id(replica);
        let view = self.view();
        let master_id = view.iter().find(|n| n.id == id)?.master_id.clone()?;
        self.port_of_id(&master_id)
    }

    /// The slot of a key or shard channel (`CLUSTER KEYSLOT`).
    pub fn slot_of(&self, name: &str) -> u16 {
        let port = *self.running().first().expect("a running node");
        let answer =
            self.try_command(port, &["CLUSTER", "KEYSLOT", name]).unwrap_or_else(|why| panic!("KEYSLOT {name}: {why}"));
        answer.parse().unwrap_or_else(|_| panic!("KEYSLOT {name} answered {answer:?}"))
    }

    /// The master serving `slot`.
    pub fn master_of_slot(&self, slot: u16) -> u16 {
        let view = self.view();
        let owner = view
            .iter()
            .find(|n| n.is_master() && n.serves(slot))
            .unwrap_or_else(|| panic!("slot {slot} unserved: {view:?}"));
        owner.port
    }

    /// A node's log (its last `lines` lines).
    pub fn log_tail(&self, port: u16, lines: usize) -> String {
        self.lock().iter().find(|n| n.port == port).map(|n| n.log_tail(lines)).unwrap_or_default()
    }

    /// The last lines of every node's log, for a failure message.
    pub fn logs(&self) -> String {
        self.lock().iter().map(|n| format!("--- redis {} ({}) ---\n{}\n", n.port, n.id, n.log_tail(15))).collect()
    }

    // -----------------------------------------------------------------------------------------
    // Health
    // -----------------------------------------------------------------------------------------

    /// `Ok` when the cluster is healthy (see the module documentation); else what is not.
    pub fn health(&self) -> Result<(), String> {
        let running = self.running();
        if running.is_empty() {
            return Err("no node runs".to_owned());
        }
        let mut views = Vec::new();
        for &port in &running {
            let info = self.try_command(port, &["CLUSTER", "INFO"])?;
            for (field, want) in [
                ("cluster_state", "ok"),
                ("cluster_slots_assigned", "16384"),
                ("cluster_slots_ok", "16384"),
                ("cluster_slots_pfail", "0"),
                ("cluster_slots_fail", "0"),
            ] {
                let got = info_field(&info, field);
                if got.as_deref() != Some(want) {
                    return Err(format!("node {port}: {field}:{got:?}"));
                }
            }
            views.push((port, self.view_of(port)?));
        }
        let running_ids: Vec<String> = running.iter().map(|p| self.node_id(*p)).collect();
        // The slot map and running nodes' roles, as each running node sees them.
        let summary = |view: &[NodeView]| -> Result<Summary, String> {
            let mut owners = vec![None; CLUSTER_SLOTS as usize];
            let mut roles = BTreeMap::new();
            for node in view {
                if !node.open_slots.is_empty() {
                    return Err(format!("node {} has open slots {:?}", node.port, node.open_slots));
                }
                if node.is_master() {
                    for (from, to) in &node.slots {
                        for slot in *from..=*to {
                            owners[slot as usize] = Some(node.id.clone());
                        }
                    }
                }
                if running_ids.contains(&node.id) {
                    if node.failing() || node.has_flag("handshake") || node.has_flag("noaddr") {
                        return Err(format!("running node {} flagged {:?}", node.port, node.flags));
                    }
                    let role = if node.is_master() {
                        "master".to_owned()
                    } else {
                        format!("replica of {}", node.master_id.clone().unwrap_or_default())
                    };
                    roles.insert(node.id.clone(), role);
                }
            }
            Ok((owners, roles))
        };
        let (first_port, first_view) = &views[0];
        let (owners, roles) = summary(first_view).map_err(|e| format!("as {first_port} sees it: {e}"))?;
        for (port, view) in &views[1..] {
            let (their_owners, their_roles) = summary(view).map_err(|e| format!("as {port} sees it: {e}"))?;
            if their_roles != roles {
                return Err(format!("roles: {first_port} sees {roles:?}, {port} sees {their_roles:?}"));
            }
            if let Some(slot) = (0..owners.len()).find(|s| owners[*s] != their_owners[*s]) {
                return Err(format!(
                    "slot {slot}: {first_port} sees it on {:?}, {port} on {:?}",
                    owners[slot], their_owners[slot]
                ));
            }
        }
        if roles.len() != running.len() {
            return Err(format!("{} running nodes, {} known with a role: {roles:?}", running.len(), roles.len()));
        }
        for (slot, owner) in owners.iter().enumerate() {
            match owner {
                Some(id) if running_ids.contains(id) => {}
                other => return Err(format!("slot {slot} served by {other:?}, not a running node")),
            }
        }
        for (port, id) in running.iter().zip(&running_ids) {
            if roles.get(id).is_some_and(|role| role.starts_with("replica")) {
                let info = self.try_command(*port, &["INFO", "replication"])?;
                let link = info_field(&info, "master_link_status");
                if link.as_deref() != Some("up") {
                    return Err(format!("replica {port}: master_link_status:{link:?}"));
                }
            }
        }
        Ok(())
    }

    pub fn cluster_ok(&self) -> bool {
        self.health().is_ok()
    }

    /// Waits (bounded by `CLUSTER_WAIT`) for a healthy cluster; returns how long it took. Fails
    /// the test naming `what`, the last problem and the nodes' logs.
    pub fn wait_healthy(&self, what: &str) -> Duration {
        self.wait_healthy_and(what, || Ok(()))
    }

    /// As `wait_healthy`, until `also` holds too.
    fn wait_healthy_and(&self, what: &str, mut also: impl FnMut() -> Result<(), String>) -> Duration {
        let started = Instant::now();
        let healthy = poll_blocking_every(HEALTH_POLL, CLUSTER_WAIT, || {
            self.health()?;
            also()
        });
        if let Err(last) = healthy {
            panic!("{what}: the cluster is not healthy within {CLUSTER_WAIT:?}: {last}\n{}", self.logs());
        }
        started.elapsed()
    }

    // -----------------------------------------------------------------------------------------
    // Drills
    // -----------------------------------------------------------------------------------------

    /// SIGKILLs a node (a crash), by its own PID; its counters are kept (`errorstat`) first.
    pub fn kill(&self, port: u16) {
        if let Ok(info) = self.try_command(port, &["INFO", "all"]) {
            let mut retired = self.retired.lock().unwrap_or_else(|e| e.into_inner());
            for (name, value) in parse_counters(&info) {
                *retired.entry(name).or_default() += value;
            }
        }
        let mut nodes = self.lock();
        let node = nodes.iter_mut().find(|n| n.port == port).unwrap_or_else(|| panic!("no node {port}"));
        assert!(node.child.is_some(), "node {port} is not running");
        node.kill();
    }

    /// Starts a killed node again on its ports with its `nodes-PORT.conf` (so it rejoins) and
    /// waits for a healthy cluster; returns how long that took.
    pub fn restart(&self, port: u16) -> Duration {
        let started = Instant::now();
        self.start_node(port);
        self.wait_healthy(&format!("node {port} restarted"));
        started.elapsed()
    }

    fn start_node(&self, port: u16) {
        let mut nodes = self.lock();
        let node = nodes.iter_mut().find(|n| n.port == port).unwrap_or_else(|| panic!("no node {port}"));
        node.start().unwrap_or_else(|why| panic!("redis node did not start again on port {port}: {why}"));
    }

    /// Waits until `replica` (of a master just killed) serves as a master in a healthy cluster;
    /// returns how long that took from the call.
    pub fn wait_promoted(&self, replica: u16) -> Duration {
        let id = self.node_id(replica);
        self.wait_healthy_and(&format!("replica {replica} promoted"), || {
            let view = self.view_of(replica)?;
            match view.iter().find(|n| n.id == id) {
                Some(me) if me.is_master() && !me.slots.is_empty() => Ok(()),
                other => Err(format!("replica {replica} is {other:?}")),
            }
        })
    }

    /// `CLIENT KILL TYPE pubsub` on a node: every connection in (sharded) subscribe mode is
    /// closed. Returns how many were.
    pub fn client_kill_pubsub(&self, port: u16) -> u64 {
        let answer = self
            .try_command(port, &["CLIENT", "KILL", "TYPE", "pubsub"])
            .unwrap_or_else(|why| panic!("CLIENT KILL TYPE pubsub on {port}: {why}"));
        answer.parse().unwrap_or_else(|_| panic!("CLIENT KILL on {port} answered {answer:?}"))
    }

    /// `CLUSTER FAILOVER` sent to a replica (a coordinated, lossless switch): waits until it is
    /// the master of a healthy cluster, its old master now its replica. Returns how long it took.
    /// Redis abandons a manual failover that did not complete in 5 s (the replica could not
    /// catch up with its master's offset, e.g. on loaded cores): it is then asked again.
    pub fn failover(&self, replica: u16) -> Duration {
        let old_master = self.master_of(replica).unwrap_or_else(|| panic!("{replica} is not a replica"));
        let id = self.node_id(replica);
        let started = Instant::now();
        let ask = || {
            let answer = self.try_command(replica, &["CLUSTER", "FAILOVER"]);
            assert_eq!(answer.as_deref(), Ok("OK"), "CLUSTER FAILOVER on {replica}");
            Instant::now()
        };
        let mut asked = ask();
        self.wait_healthy_and(&format!("failover to {replica}"), || {
            let masters = self.masters();
            let now = self.master_of(old_master);
            if masters.contains(&replica) && now == Some(replica) {
                return Ok(());
            }
            let still_replica = self.view_of(replica)?.iter().any(|n| n.id == id && n.is_replica());
            if still_replica && asked.elapsed() > MANUAL_FAILOVER_RETRY {
                asked = ask();
            }
            Err(format!("masters {masters:?}; {old_master} replicates {now:?}"))
        });
        started.elapsed()
    }

    /// Moves `slot` from master `from` to master `to` while the cluster serves: `SETSLOT
    /// IMPORTING` on `to`, `MIGRATING` on `from`, its keys moved with `MIGRATE` (batches of
    /// `GETKEYSINSLOT`), then `SETSLOT NODE` on `to`, `from` and every other master; waits until
    /// every node sees it on `to` in a healthy cluster. Returns how long it took.
    pub fn migrate_slot(&self, slot: u16, from: u16, to: u16) -> Duration {
        assert_eq!(self.master_of_slot(slot), from, "slot {slot} is on {from}");
        assert!(self.masters().contains(&to), "{to} is a master");
        let started = Instant::now();
        let (from_id, to_id) = (self.node_id(from), self.node_id(to));
        let slot_arg = slot.to_string();
        let ok = |port: u16, args: &[&str]| {
            let answer = self.try_command(port, args);
            assert_eq!(answer.as_deref(), Ok("OK"), "{args:?} on {port}");
        };
        ok(to, &["CLUSTER", "SETSLOT", &slot_arg, "IMPORTING", &from_id]);
        ok(from, &["CLUSTER", "SETSLOT", &slot_arg, "MIGRATING", &to_id]);
        let batch = MIGRATE_BATCH.to_string();
        let mut moved = 0;
        let drained = poll_blocking(CLUSTER_WAIT, || {
            let keys = self.try_command(from, &["CLUSTER", "GETKEYSINSLOT", &slot_arg, &batch])?;
            let keys: Vec<&str> = keys.lines().map(str::trim).filter(|k| !k.is_empty()).collect();
            if keys.is_empty() {
                return Ok(());
            }
            let to_port = to.to_string();
            let mut args = vec!["MIGRATE", "127.0.0.1", to_port.as_str(), "", "0", "5000", "KEYS"];
            args.extend(&keys);
            self.try_command(from, &args)?;
            moved += keys.len();
            Err(format!("{moved} keys moved, more left"))
        });
        if let Err(why) = drained {
            panic!("slot {slot} not drained from {from} within {CLUSTER_WAIT:?}: {why}");
        }
        ok(to, &["CLUSTER", "SETSLOT", &slot_arg, "NODE", &to_id]);
        ok(from, &["CLUSTER", "SETSLOT", &slot_arg, "NODE", &to_id]);
        for master in self.masters() {
            if master != from && master != to {
                ok(master, &["CLUSTER", "SETSLOT", &slot_arg, "NODE", &to_id]);
            }
        }
        self.wait_healthy_and(&format!("slot {slot} moved from {from} to {to}"), || {
            for port in self.running() {
                let view = self.view_of(port)?;
                let owner = view.iter().find(|n| n.is_master() && n.serves(slot)).map(|n| n.port);
                if owner != Some(to) {
                    return Err(format!("{port} sees slot {slot} on {owner:?}"));
                }
            }
            Ok(())
        });
        started.elapsed()
    }

    /// SIGKILLs every node, starts them all again on their ports with their `nodes-PORT.conf`,
    /// and waits for a healthy cluster (data is gone: no persistence). Returns how long the
    /// cluster took to be healthy after the first node started again.
    pub fn restart_all(&self) -> Duration {
        for port in self.running() {
            self.kill(port);
        }
        let started = Instant::now();
        for port in self.ports() {
            self.start_node(port);
        }
        self.wait_healthy("every node restarted");
        started.elapsed()
    }

    // -----------------------------------------------------------------------------------------
    // What the cluster counted
    // -----------------------------------------------------------------------------------------

    /// `PUBSUB SHARDNUMSUB` on one node: its local subscribers of each channel.
    pub fn shardnumsub_on(&self, port: u16, channels: &[&str]) -> Result<Vec<i64>, String> {
        let mut args = vec!["PUBSUB", "SHARDNUMSUB"];
        args.extend(channels);
        let out = self.try_command(port, &args)?;
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        if lines.len() != channels.len() * 2 {
            return Err(format!("SHARDNUMSUB on {port}: {} lines for {} channels", lines.len(), channels.len()));
        }
        lines
            .chunks(2)
            .zip(channels)
            .map(|(pair, name)| {
                if pair[0] != *name {
                    return Err(format!("SHARDNUMSUB on {port}: {:?} where {name:?} was expected", pair[0]));
                }
                pair[1].parse().map_err(|_| format!("SHARDNUMSUB on {port}: count {:?}", pair[1]))
            })
            .collect()
    }

    /// Subscribers of each shard channel summed over the masters (each counts only its own).
    pub fn shardnumsub_total(&self, channels: &[&str]) -> Vec<i64> {
        self.try_shardnumsub_sum(&self.masters(), channels).unwrap_or_else(|why| panic!("{why}"))
    }

    /// Subscribers of each shard channel summed over the replicas (nodes subscribe on masters).
    pub fn shardnumsub_on_replicas(&self, channels: &[&str]) -> Vec<i64> {
        self.try_shardnumsub_sum(&self.replicas(), channels).unwrap_or_else(|why| panic!("{why}"))
    }

    pub fn try_shardnumsub_sum(&self, ports: &[u16], channels: &[&str]) -> Result<Vec<i64>, String> {
        let mut total = vec![0; channels.len()];
        for port in ports {
            for (sum, n) in total.iter_mut().zip(self.shardnumsub_on(*port, channels)?) {
                *sum += n;
            }
        }
        Ok(total)
    }

    /// A counter of `INFO errorstats`/`commandstats` (`errorstat_CROSSSLOT`, `cmdstat_spublish`)
    /// summed over every running node and what killed nodes had counted.
    pub fn counter(&self, name: &str) -> u64 {
        let mut total = self.retired.lock().unwrap_or_else(|e| e.into_inner()).get(name).copied().unwrap_or(0);
        for port in self.running() {
            let info = self.try_command(port, &["INFO", "all"]).unwrap_or_else(|why| panic!("INFO on {port}: {why}"));
            total += parse_counters(&info).get(name).copied().unwrap_or(0);
        }
        total
    }

    /// Errors of this kind (`CROSSSLOT`, `MOVED`, ...) answered by the cluster.
    pub fn errorstat(&self, error: &str) -> u64 {
        self.counter(&format!("errorstat_{error}"))
    }

    /// `CROSSSLOT` errors answered by the cluster: a command naming keys of several slots.
    pub fn crossslot_errors(&self) -> u64 {
        self.errorstat("CROSSSLOT")
    }

    /// Calls of a command (lower case, e.g. `spublish`) over the cluster.
    pub fn cmdstat_calls(&self, command: &str) -> u64 {
        self.counter(&format!("cmdstat_{command}"))
    }
}

/// A node on two fresh candidate ports in a fresh temp dir, started and proven (bounded retries).
fn start_new_node() -> Node {
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        let ports = candidate_ports(2);
        let dir = tempfile::tempdir().expect("temp dir");
        let mut node = Node { port: ports[0], bus_port: ports[1], dir, child: None, id: String::new() };
        match node.start() {
            Ok(()) => return node,
            Err(why) => failures.push(format!("ports {} and {}: {why}", node.port, node.bus_port)),
        }
    }
    panic!("a redis cluster node did not start on any of {START_ATTEMPTS} port pairs: {failures:#?}");
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in self.lock().iter_mut() {
            node.kill();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Herald nodes on a Redis Cluster
// ---------------------------------------------------------------------------------------------

/// Partitions of the users' shard channels (`herald:{P}:user:{ID}`, `P = ID % PARTITIONS`).
pub const PARTITIONS: i64 = 128;
/// The shard channel every node subscribes to be told to repair its sessions.
pub const RESYNC_CHANNEL: &str = "herald:{resync}";

/// The shard channel of a user's pushes: its partition in a hash tag, so all users of a
/// partition share a slot.
pub fn shard_channel(user: i64) -> String {
    format!("herald:{{{}}}:user:{user}", user.rem_euclid(PARTITIONS))
}

/// Runs blocking work (the cluster's drills and probes, which run `redis-cli` and sleep between
/// polls) off the async runtime, whose thread the in-process nodes share; a panic in it is the
/// test's.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("blocking work did not finish: {e}"),
    }
}

/// A private Redis Cluster (3 masters, 3 replicas) and `n` nodes in this process on a fresh
/// PostgreSQL database, pointed at it with `REDIS_CLUSTER_URLS`; each node ready. `extra`
/// variables on top. Keep the returned guards alive.
pub async fn cluster_on_redis_cluster(
    n: usize,
    extra: &[(&str, &str)],
) -> (super::TestDb, std::sync::Arc<RedisCluster>, Vec<super::TestApp>) {
    let redis = std::sync::Arc::new(blocking(RedisCluster::start).await);
    let db = super::TestDb::new();
    let seeds = redis.seeds_env();
    let mut vars: Vec<(&str, &str)> = vec![("REDIS_CLUSTER_URLS", seeds.as_str())];
    vars.extend_from_slice(extra);
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(super::TestApp::spawn_on(super::DbGuard::None, &db.url, &vars).await);
    }
    for node in &nodes {
        super::wait_ready(node).await;
    }
    (db, redis, nodes)
}

/// Subscribers of the users' shard channels summed over the masters, and over the replicas.
pub async fn shard_subscribers(
    redis: &std::sync::Arc<RedisCluster>,
    users: &[i64],
) -> Result<(Vec<i64>, Vec<i64>), String> {
    let redis = redis.clone();
    let channels: Vec<String> = users.iter().map(|user| shard_channel(*user)).collect();
    blocking(move || {
        let channels: Vec<&str> = channels.iter().map(String::as_str).collect();
        let on_masters = redis.try_shardnumsub_sum(&redis.masters(), &channels)?;
        let on_replicas = redis.try_shardnumsub_sum(&redis.replicas(), &channels)?;
        Ok((on_masters, on_replicas))
    })
    .await
}

/// Waits (bounded by `within`) until each user's shard channel has the expected number of
/// subscribers on the masters (one per node holding a socket of the user) and none on any
/// replica. Fails the test with the users that differ.
pub async fn wait_shard_subscribers(redis: &std::sync::Arc<RedisCluster>, expected: &[(i64, i64)], within: Duration) {
    let users: Vec<i64> = expected.iter().map(|(user, _)| *user).collect();
    let settled = super::poll_every(Duration::from_millis(100), within, async || {
        let (on_masters, on_replicas) = shard_subscribers(redis, &users).await?;
        let wrong: Vec<String> = expected
            .iter()
            .zip(on_masters.iter().zip(&on_replicas))
            .filter(|((_, want), (got, replicas))| want != *got || **replicas != 0)
            .map(|((user, want), (got, replicas))| {
                format!("{}: want {want}, {got} on masters, {replicas} on replicas", shard_channel(*user))
            })
            .collect();
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(format!("{} of {} channels: {wrong:?}", wrong.len(), expected.len()))
        }
    })
    .await;
    if let Err(wrong) = settled {
        panic!("shard subscriptions did not settle within {within:?}: {wrong}");
    }
}
