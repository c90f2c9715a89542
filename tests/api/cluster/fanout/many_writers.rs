//! Many sockets, many writers.

use super::{BURST, QUIET};
use crate::helpers::*;
use futures_util::future::{join, join_all};

#[actix_web::test]
async fn four_sockets_of_one_user_on_two_nodes_each_get_every_push_once_in_order() {
    const USER: i64 = 1;
    let (_db, _redis, nodes) = cluster(2, &[]).await;
    let mut sockets = Vec::new();
    for node in [0, 0, 1, 1] {
        sockets.push((node, WsClient::open(&nodes[node], &token(USER)).await.0));
    }

    // No waiting for subscriptions: creates racing them are repaired from the database.
    let readers = sockets
        .iter_mut()
        .enumerate()
        .map(|(i, (node, ws))| collect_notifications(ws, 100, BURST, format!("socket {i} on node {node}")));
    let (created, seen) = join(create_concurrently(&nodes, USER, 10, 10), join_all(readers)).await;

    assert_eq!(created.len(), 100);
    for (i, ids) in seen.iter().enumerate() {
        assert_exactly_once_in_order(ids, &created, &format!("socket {i}"));
    }
    join_all(
        sockets
            .iter_mut()
            .enumerate()
            .map(|(i, (_, ws))| expect_no_more_notifications(ws, QUIET, format!("socket {i}"))),
    )
    .await;
}
