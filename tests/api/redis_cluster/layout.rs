//! The drills' users (their channels spread over all masters) and their recorded sockets.

use crate::helpers::*;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// 40 users: partitions 1..=36 have one each; 129 and 257 share partition 1 with user 1, 130
/// partition 2 with user 2 (one slot carries several users' channels); 1000 is partition 104.
pub(super) fn users() -> Vec<i64> {
    (1..=36).chain([129, 130, 257, 1000]).collect()
}

/// The master serving each user's shard channel (its slot from `CLUSTER KEYSLOT`).
async fn masters_of(redis: &Arc<RedisCluster>, users: &[i64]) -> HashMap<i64, u16> {
    let (redis, users) = (redis.clone(), users.to_vec());
    blocking(move || users.iter().map(|u| (*u, redis.master_of_slot(redis.slot_of(&shard_channel(*u))))).collect())
        .await
}

/// Asserts the users' channels are spread over every master.
pub(super) async fn assert_spread_over_masters(redis: &Arc<RedisCluster>, users: &[i64]) -> HashMap<i64, u16> {
    let owners = masters_of(redis, users).await;
    let masters = blocking({
        let redis = redis.clone();
        move || redis.masters()
    })
    .await;
    let used: BTreeSet<u16> = owners.values().copied().collect();
    assert_eq!(used, masters.iter().copied().collect(), "the users' channels land on every master: {owners:?}");
    owners
}

/// The nodes (indexes) a user's drill sockets are on, one entry per socket: the user's own node
/// (`user % 2`); every third user one on the other node too; every fifth a second socket on its
/// own node (one subscription serves both).
pub(super) fn drill_layout(user: i64) -> Vec<usize> {
    let own = (user % 2) as usize;
    let mut nodes = vec![own];
    if user % 3 == 0 {
        nodes.push(1 - own);
    }
    if user % 5 == 0 {
        nodes.push(own);
    }
    nodes
}

/// Distinct nodes among a layout's sockets: the subscribers the user's channel should have.
pub(super) fn distinct_nodes(layout: &[usize]) -> i64 {
    layout.iter().collect::<HashSet<_>>().len() as i64
}

pub(super) struct Socket {
    pub(super) user: i64,
    pub(super) node: usize,
    pub(super) seen: Rc<RefCell<Seen>>,
    pub(super) task: tokio::task::JoinHandle<()>,
}

impl Socket {
    pub(super) fn ids(&self) -> Vec<i64> {
        self.seen.borrow().ids.iter().map(|(id, _)| *id).collect()
    }

    pub(super) fn arrival(&self, id: i64) -> Option<Instant> {
        self.seen.borrow().ids.iter().find(|(seen, _)| *seen == id).map(|(_, at)| *at)
    }
}

/// Opens a socket and reads it in the background (`record`).
pub(super) async fn open_recorded(node: &TestApp, index: usize, user: i64) -> Socket {
    let (ws, _) = WsClient::open(node, &token(user)).await;
    let (seen, task) = record(ws);
    Socket { user, node: index, seen, task }
}
