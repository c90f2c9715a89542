//! Several nodes on one PostgreSQL database and one private Redis: fan-out across nodes.

use crate::helpers::*;
use serde_json::json;

#[actix_web::test]
async fn notification_created_on_node_a_reaches_sockets_on_node_b_and_c() {
    let (_db, redis, nodes) = cluster(3, &[]).await;
    let (mut on_b, _) = WsClient::open(&nodes[1], &token(1)).await;
    let (mut on_c, _) = WsClient::open(&nodes[2], &token(1)).await;
    let created = nodes[0].create_for_self(1, "from A").await;
    let expected = json!({"type": "notification", "notification": created});
    assert_eq!(on_b.next_of_type("notification").await, expected);
    assert_eq!(on_c.next_of_type("notification").await, expected);
    assert_eq!(redis.numsub("herald:user:1"), 2, "one subscriber connection per node with sockets");
    let (status, ready) = nodes[0].call(awc::http::Method::GET, "/readyz", None, None).await;
    assert!(status.is_success());
    assert_eq!(ready["checks"], json!({"database": "ok", "redis_publisher": "ok", "redis_subscriber": "ok"}));
}
