//! Every name Herald gives a thing in Redis, and the partition of a user. On one Redis a user's
//! channel is `herald:user:{id}`; on a cluster names carry the user's partition as hash tag
//! (`herald:{p}:…`, `p = id % PARTITIONS`), so that a partition's channels and keys live in one
//! slot and each command or script touches one slot. The limits' keys (`crate::limits`) are
//! named here too.

use crate::domain::UserId;

/// Users are spread over this many hash tags (slots). Fixed: every node of a deployment must
/// agree on it.
pub const PARTITIONS: i64 = 128;

/// On one Redis, the channel on which a message makes every node repair its sessions from the
/// database (sent after a publisher dropped events it could not publish).
pub const RESYNC_CHANNEL: &str = "herald:resync";
/// The same on a cluster: a shard channel.
pub const RESYNC_SHARD_CHANNEL: &str = "herald:{resync}";

/// On one Redis, the channel of the nodes' questions to each other and their answers
/// (`crate::cluster`: a user's live sockets, disconnecting them, each node's status).
pub const CONTROL_CHANNEL: &str = "herald:control";
/// The same on a cluster: a shard channel in the resync channel's slot, so the one master
/// connection that carries the node-wide channel carries both.
pub const CONTROL_SHARD_CHANNEL: &str = "herald:{resync}:control";
/// The nodes alive: a sorted set of node instances scored by their last heartbeat (Unix ms),
/// in the resync channel's slot.
pub const NODES_KEY: &str = "herald:{resync}:nodes";

const USER_CHANNEL_PREFIX: &str = "herald:user:";

/// The partition of a user: which hash tag their names carry.
pub fn partition(user: UserId) -> u16 {
    (user.get().rem_euclid(PARTITIONS)) as u16
}

/// The hash tag of partition `p`, `{p}`: its slot is the partition's slot.
pub fn partition_tag(p: i64) -> String {
    format!("{{{p}}}")
}

/// A user's channel on one Redis.
pub fn user_channel(user: UserId) -> String {
    format!("{USER_CHANNEL_PREFIX}{user}")
}

/// The user of a channel on one Redis; `None` for any other name.
pub fn user_of_channel(channel: &str) -> Option<UserId> {
    UserId::parse_str(channel.strip_prefix(USER_CHANNEL_PREFIX)?)
}

/// A user's shard channel on a cluster.
pub fn user_shard_channel(user: UserId) -> String {
    format!("herald:{{{}}}:user:{user}", partition(user))
}

/// The user of a shard channel; `None` for any other name, or a tag that is not the user's.
pub fn user_of_shard_channel(channel: &[u8]) -> Option<UserId> {
    let rest = std::str::from_utf8(channel).ok()?.strip_prefix("herald:{")?;
    let (tag, id) = rest.split_once("}:user:")?;
    let user = UserId::parse_str(id)?;
    (tag.parse::<u16>().ok()? == partition(user)).then_some(user)
}

/// The GCRA cell of an end user's cluster-wide budget (REST and WebSocket alike).
pub fn rate_key(user: UserId) -> String {
    format!("herald:{{{}}}:rate:{user}", partition(user))
}

/// The GCRA cell of a service identity's cluster-wide budget of notifications written.
pub fn service_rate_key(user: UserId) -> String {
    format!("herald:{{{}}}:service-rate:{user}", partition(user))
}

/// The set of a user's open sockets across the cluster (`instance/session` members).
pub fn sockets_key(user: UserId) -> String {
    format!("herald:{{{}}}:sockets:{user}", partition(user))
}

/// The prefix of the node keys in a user's partition: `herald:{p}:node:`, followed by a node's
/// instance.
pub fn node_key_prefix(user: UserId) -> String {
    format!("herald:{{{}}}:node:", partition(user))
}

/// A node instance's liveness key in partition `p`.
pub fn node_key(p: i64, instance: &str) -> String {
    format!("herald:{{{p}}}:node:{instance}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_channel_on_one_redis_names_the_user() {
        let user = UserId::new(42).expect("id");
        assert_eq!(user_channel(user), "herald:user:42");
        assert_eq!(user_of_channel(&user_channel(user)), Some(user));
        assert!(user_of_channel("other:42").is_none());
    }

    #[test]
    fn a_users_shard_channel_carries_its_partition_as_hash_tag() {
        let user = UserId::new(1000).expect("id");
        assert_eq!(user_shard_channel(user), "herald:{104}:user:1000");
        assert_eq!(user_of_shard_channel(user_shard_channel(user).as_bytes()), Some(user));
        assert_eq!(user_of_shard_channel(b"herald:{105}:user:1000"), None, "a wrong tag is not ours");
        assert_eq!(user_of_shard_channel(b"herald:user:1000"), None);
    }
}
