//! Whether the cluster is healthy, and bounded waits until it is.

use super::view::{info_field, NodeView, Summary};
use super::{RedisCluster, CLUSTER_SLOTS, CLUSTER_WAIT, HEALTH_POLL};
use crate::helpers::poll_blocking_every;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

impl RedisCluster {
    /// `Ok` when the cluster is healthy, else what is not: every running node reports
    /// `cluster_state:ok` with all slots served, all agree on the slot map and on every running
    /// node's role, none is flagged failing, no slot is half-migrated, every replica's link is up.
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
        let (first_port, first_view) = &views[0];
        let (owners, roles) = summary(first_view, &running_ids).map_err(|e| format!("as {first_port} sees it: {e}"))?;
        for (port, view) in &views[1..] {
            let (their_owners, their_roles) =
                summary(view, &running_ids).map_err(|e| format!("as {port} sees it: {e}"))?;
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

    /// Waits (bounded by `CLUSTER_WAIT`) for a healthy cluster; returns how long it took. Fails
    /// the test naming `what`, the last problem and the nodes' logs.
    pub fn wait_healthy(&self, what: &str) -> Duration {
        self.wait_healthy_and(what, || Ok(()))
    }

    /// As `wait_healthy`, until `also` holds too.
    pub(super) fn wait_healthy_and(&self, what: &str, mut also: impl FnMut() -> Result<(), String>) -> Duration {
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
}

/// The slot map and the running nodes' roles, as one member's `view` shows them; `Err` when
/// that view has a half-migrated slot or flags a running node.
fn summary(view: &[NodeView], running_ids: &[String]) -> Result<Summary, String> {
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
}
