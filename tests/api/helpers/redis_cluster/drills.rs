//! The drills: a node killed, restarted or promoted, pub/sub clients killed, a failover, a slot
//! migrated, every node restarted. Each returns once the cluster is healthy again; each blocks.

use super::view::parse_counters;
use super::{RedisCluster, CLUSTER_WAIT, MANUAL_FAILOVER_RETRY, MIGRATE_BATCH};
use crate::helpers::poll_blocking;
use std::time::{Duration, Instant};

impl RedisCluster {
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
}
