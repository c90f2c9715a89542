//! One Redis or a Redis Cluster. Every part of the Redis broker that differs between the two
//! (the publisher, the channel connection, the command pool and its connections) is a
//! `Topology` of the two flavours' parts, and all of them are chosen by one `match` on the
//! configuration (`super::RedisBroker::start`).

/// One Redis (`REDIS_URL`) or a Redis Cluster (`REDIS_CLUSTER_URLS`).
#[derive(Clone)]
pub enum Topology<S, C> {
    Standalone(S),
    Cluster(C),
}
