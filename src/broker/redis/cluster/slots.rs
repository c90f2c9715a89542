//! The part of a cluster's slot map Herald depends on: which master owns each partition's
//! slot and the resync channel's (`Owners`), read with `CLUSTER SLOTS` through the command
//! pool, and the slot of a key as Redis Cluster computes it.

use crate::broker::error::SlotMapError;
use crate::broker::redis::channels::{partition, partition_tag, PARTITIONS, RESYNC_SHARD_CHANNEL};
use crate::broker::redis::pool::CommandPool;
use crate::domain::UserId;
use redis::Value;
use std::collections::HashSet;

const CLUSTER_SLOTS: u16 = 16384;

/// A master's address, as the cluster announces it.
pub type Master = (String, u16);

/// The slot of a key (CRC16/XMODEM of its hash tag, as Redis Cluster computes it).
pub fn slot_of(key: &str) -> u16 {
    let tag = key.find('{').and_then(|open| {
        let close = key[open + 1..].find('}')?;
        (close > 0).then(|| &key[open + 1..open + 1 + close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tag.unwrap_or(key).as_bytes()) % CLUSTER_SLOTS
}

/// Which master owns each partition's slot, and the resync channel's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owners {
    partitions: Vec<Master>,
    pub resync: Master,
}

impl Owners {
    /// Reads `CLUSTER SLOTS`; an error while any slot we use has no master.
    pub async fn read(pool: &CommandPool) -> Result<Owners, SlotMapError> {
        let slots: Value = pool.query(&redis::cmd("CLUSTER").arg("SLOTS").to_owned()).await?;
        let ranges = parse_slot_ranges(&slots)?;
        let owner_of = |key: &str| -> Result<Master, SlotMapError> {
            let slot = slot_of(key);
            ranges
                .iter()
                .find(|(start, end, _)| (*start..=*end).contains(&slot))
                .map(|(_, _, master)| master.clone())
                .ok_or(SlotMapError::NoMaster(slot))
        };
        let partitions = (0..PARTITIONS).map(|p| owner_of(&partition_tag(p))).collect::<Result<Vec<_>, _>>()?;
        Ok(Owners { partitions, resync: owner_of(RESYNC_SHARD_CHANNEL)? })
    }

    /// The master of `user`'s shard channel.
    pub fn of(&self, user: UserId) -> &Master {
        &self.partitions[partition(user) as usize]
    }

    /// Every master that owns a slot we use.
    pub fn masters(&self) -> HashSet<&Master> {
        self.partitions.iter().chain(std::iter::once(&self.resync)).collect()
    }
}

/// `CLUSTER SLOTS`: `[[start, end, [host, port, id, ...], replicas...], ...]`.
fn parse_slot_ranges(value: &Value) -> Result<Vec<(u16, u16, Master)>, SlotMapError> {
    let Value::Array(ranges) = value else { return Err(SlotMapError::NotAList(value.clone())) };
    let int = |v: &Value| match v {
        Value::Int(n) => u16::try_from(*n).ok(),
        _ => None,
    };
    let text = |v: &Value| match v {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    ranges
        .iter()
        .map(|range| {
            let Value::Array(fields) = range else { return None };
            let Value::Array(master) = fields.get(2)? else { return None };
            Some((int(fields.first()?)?, int(fields.get(1)?)?, (text(master.first()?)?, int(master.get(1)?)?)))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| SlotMapError::Unexpected(value.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::redis::channels::user_shard_channel;

    #[test]
    fn every_user_of_a_partition_shares_the_partitions_slot() {
        let user = UserId::new(1000).expect("id");
        let other = UserId::new(1000 + PARTITIONS).expect("id");
        assert_eq!(slot_of(&user_shard_channel(user)), slot_of(&user_shard_channel(other)));
        assert_eq!(slot_of(&user_shard_channel(user)), slot_of("{104}"));
    }

    #[test]
    fn slots_are_computed_as_redis_cluster_does() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.
        assert_eq!(slot_of("foo"), 12182);
        assert_eq!(slot_of("{user1000}.following"), slot_of("{user1000}.followers"));
        assert_eq!(slot_of("{}user1000"), slot_of("{}user1000"));
        assert_ne!(slot_of("{}foo"), slot_of("foo"), "an empty tag hashes the whole key");
        assert_eq!(slot_of("123456789"), 12739);
    }
}
