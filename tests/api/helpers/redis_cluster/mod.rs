//! A private Redis Cluster per test: six `redis-server` processes in cluster mode on loopback
//! ports (three masters, one replica each), each in a temp dir of its own, stopped by their own PIDs
//! on Drop. Never touches a shared Redis. Each node's client and bus ports are proven ours as in
//! `ports.rs`; a restart re-binds the same ports with the same `nodes-PORT.conf`, so a node rejoins
//! as the member it was. What Redis does that the drills rely on is written in
//! docs/redis-cluster-tests.md.

mod counters;
mod drills;
mod health;
mod herald;
mod node;
mod view;

pub use herald::{
    blocking, cluster_on_redis_cluster, shard_channel, shard_subscribers, wait_shard_subscribers, RESYNC_CHANNEL,
};
pub use view::{parse_cluster_nodes, NodeView};

use super::start_on_candidates;
use node::{cli, Node};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

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

    /// The last lines of every node's log, for a failure message.
    pub fn logs(&self) -> String {
        self.lock().iter().map(|n| format!("--- redis {} ({}) ---\n{}\n", n.port, n.id, n.log_tail(15))).collect()
    }
}

/// A node on two fresh candidate ports in a fresh temp dir, started and proven (bounded retries).
fn start_new_node() -> Node {
    start_on_candidates("a redis cluster node", 2, |ports| {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut node = Node { port: ports[0], bus_port: ports[1], dir, child: None, id: String::new() };
        node.start().map(|()| node)
    })
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in self.lock().iter_mut() {
            node.kill();
        }
    }
}
