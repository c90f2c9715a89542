//! The cluster as its members see it: `CLUSTER NODES`, roles, slot owners, `INFO` fields.

use std::collections::{BTreeMap, HashMap};

/// One member's view of the cluster, as `health` compares them: the owner (node id) of every
/// slot, and the role of every running node (by id).
pub(super) type Summary = (Vec<Option<String>>, BTreeMap<String, String>);

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
pub(super) fn info_field(info: &str, name: &str) -> Option<String> {
    info.lines().find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':').map(str::to_owned))
}

/// The counters of `INFO errorstats` and `INFO commandstats`: `errorstat_NAME` -> count,
/// `cmdstat_NAME` -> calls.
pub(super) fn parse_counters(info: &str) -> HashMap<String, u64> {
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
