//! The admin API's view of the live cluster (staff only): a user's open sockets on every node,
//! disconnecting them (close code 4003), and the nodes' overview. Every node answers for
//! itself through the broker (`crate::cluster`); a node alive by its heartbeat that does not
//! answer within `cluster::ANSWER_WITHIN` is named, never waited for longer.

use super::admin::path_user;
use super::errors::{Forbidden, NotFound};
use crate::auth::Administrator;
use crate::cluster::messages::{Answer, NodeAnswer, Question};
use crate::cluster::{Cluster, Gathered};
use crate::console;
use crate::error::ApiError;
use crate::inbox::Inbox;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// One open socket of the user.
#[derive(Serialize, ToSchema)]
pub struct UserSocket {
    /// The node's `NODE_ID`.
    pub node: String,
    /// This run of the node (`NODE_ID-<8 hex digits>`).
    pub instance: String,
    /// The session's id on its node.
    pub session: String,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    pub connected_at: String,
    /// As the proxy in front forwarded it (`X-Real-IP`, else the first `X-Forwarded-For`), else the peer's.
    #[schema(required = true)]
    pub client_addr: Option<String>,
    #[schema(required = true)]
    pub user_agent: Option<String>,
}

/// The user's open sockets on every node that answered.
#[derive(Serialize, ToSchema)]
pub struct UserSockets {
    #[schema(minimum = 1, format = Int64)]
    pub user_id: i64,
    pub sockets: Vec<UserSocket>,
    /// The nodes that answered (their instances).
    pub nodes_answered: Vec<String>,
    /// Nodes alive by their heartbeat that did not answer in time (their instances).
    pub nodes_unanswered: Vec<String>,
}

/// What "disconnect all" did.
#[derive(Serialize, ToSchema)]
pub struct UserDisconnected {
    #[schema(minimum = 1, format = Int64)]
    pub user_id: i64,
    /// Sockets told to close with 4003.
    #[schema(value_type = i64, minimum = 0)]
    pub disconnected: usize,
    pub nodes_answered: Vec<String>,
    pub nodes_unanswered: Vec<String>,
}

/// One node of the cluster, as it answered (or not).
#[derive(Serialize, ToSchema)]
pub struct ClusterNode {
    pub node: String,
    pub instance: String,
    /// False: alive by its heartbeat, but no answer in time (only `node` and `instance` are set).
    pub answered: bool,
    /// The node that served this request.
    pub this_node: bool,
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    pub version: Option<String>,
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub sockets: Option<usize>,
    /// Users with a socket on the node.
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub users: Option<usize>,
    /// Over the last 10 to 15 seconds.
    pub creates_per_second: Option<f64>,
    pub pushes_per_second: Option<f64>,
    /// Publish → socket write, 99th percentile over the same window (histogram estimate).
    pub delivery_p99_ms: Option<f64>,
    /// Each dependency's readiness as the node's `/readyz` words it: `ok`, or why not.
    #[schema(value_type = HashMap<String, String>)]
    pub checks: BTreeMap<String, String>,
}

/// Every node alive.
#[derive(Serialize, ToSchema)]
pub struct ClusterOverview {
    /// `redis` (several nodes) or `memory` (this node alone).
    pub broker: String,
    pub nodes: Vec<ClusterNode>,
}

/// A user's open sockets on every node right now (staff only).
#[utoipa::path(
    get,
    path = "/admin/api/users/{user_id}/sockets/",
    tag = "admin",
    security(("bearer" = [])),
    params(("user_id" = i64, Path, minimum = 1, format = Int64)),
    responses(
        (status = 200, description = "The user's sockets", body = UserSockets),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub async fn user_sockets(
    cluster: web::Data<Cluster>,
    _: Administrator,
    user_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = path_user(&user_id)?;
    let gathered = cluster.ask(Question::Sockets { user: user.get() }).await.map_err(ApiError::unavailable)?;
    let mut sockets = Vec::new();
    for answer in &gathered.answers {
        if let Answer::Sockets { sockets: theirs } = &answer.answer {
            sockets.extend(theirs.iter().map(|socket| UserSocket {
                node: answer.node.clone(),
                instance: answer.instance.clone(),
                session: socket.session.clone(),
                connected_at: rfc3339(socket.connected_at),
                client_addr: socket.client_addr.clone(),
                user_agent: socket.user_agent.clone(),
            }));
        }
    }
    sockets.sort_by(|a, b| (&a.connected_at, &a.node).cmp(&(&b.connected_at, &b.node)));
    let (nodes_answered, nodes_unanswered) = nodes(&gathered);
    Ok(HttpResponse::Ok().json(UserSockets { user_id: user.get(), sockets, nodes_answered, nodes_unanswered }))
}

/// Closes every socket of the user on every node with close code 4003 (staff only; audited).
/// Their clients may connect again with a valid token (`herald.js` does not by itself).
#[utoipa::path(
    post,
    path = "/admin/api/users/{user_id}/disconnect/",
    tag = "admin",
    security(("bearer" = [])),
    params(("user_id" = i64, Path, minimum = 1, format = Int64)),
    responses(
        (status = 200, description = "The sockets told to close", body = UserDisconnected),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub async fn disconnect_user(
    inbox: web::Data<Inbox>,
    cluster: web::Data<Cluster>,
    Administrator(admin): Administrator,
    user_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = path_user(&user_id)?;
    let gathered = cluster.ask(Question::Disconnect { user: user.get() }).await.map_err(ApiError::unavailable)?;
    let disconnected = gathered
        .answers
        .iter()
        .map(|answer| match answer.answer {
            Answer::Disconnected { count } => count,
            _ => 0,
        })
        .sum();
    let (nodes_answered, nodes_unanswered) = nodes(&gathered);
    let detail = serde_json::json!({ "disconnected": disconnected, "nodes_unanswered": nodes_unanswered });
    console::record_disconnect(&inbox, admin, user, detail).await?;
    let reply = UserDisconnected { user_id: user.get(), disconnected, nodes_answered, nodes_unanswered };
    Ok(HttpResponse::Ok().json(reply))
}

/// Every node alive, each as it says itself: sockets, users, creates/s, pushes/s, delivery p99
/// and the readiness of its dependencies (staff only).
#[utoipa::path(
    get,
    path = "/admin/api/cluster/",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The nodes", body = ClusterOverview),
        (status = 403, response = Forbidden),
    )
)]
pub async fn cluster_overview(cluster: web::Data<Cluster>, _: Administrator) -> Result<HttpResponse, ApiError> {
    let gathered = cluster.ask(Question::Status).await.map_err(ApiError::unavailable)?;
    let this = &cluster.identity().instance;
    let mut nodes: Vec<ClusterNode> = gathered.answers.iter().map(|answer| node(answer, this)).collect();
    nodes.extend(
        gathered
            .unanswered
            .iter()
            .map(|instance| ClusterNode::silent(node_of_instance(instance).to_owned(), instance.clone(), this)),
    );
    let broker = if cluster.is_shared() { "redis" } else { "memory" }.to_owned();
    Ok(HttpResponse::Ok().json(ClusterOverview { broker, nodes }))
}

impl ClusterNode {
    /// A node that has not answered: its names only.
    fn silent(node: String, instance: String, this: &str) -> ClusterNode {
        ClusterNode {
            this_node: instance == this,
            node,
            instance,
            answered: false,
            started_at: None,
            version: None,
            sockets: None,
            users: None,
            creates_per_second: None,
            pushes_per_second: None,
            delivery_p99_ms: None,
            checks: BTreeMap::new(),
        }
    }
}

fn node(answer: &NodeAnswer, this: &str) -> ClusterNode {
    let mut node = ClusterNode::silent(answer.node.clone(), answer.instance.clone(), this);
    if let Answer::Status(status) = &answer.answer {
        node.answered = true;
        node.started_at = Some(rfc3339(status.started_at));
        node.version = Some(status.version.clone());
        node.sockets = Some(status.sockets);
        node.users = Some(status.users);
        node.creates_per_second = Some(round(status.creates_per_second));
        node.pushes_per_second = Some(round(status.pushes_per_second));
        node.delivery_p99_ms = status.delivery_p99_ms.map(round);
        node.checks = status.checks.clone();
    }
    node
}

/// The `NODE_ID` part of an instance name (`NODE_ID-<8 hex digits>`).
fn node_of_instance(instance: &str) -> &str {
    instance.rsplit_once('-').map_or(instance, |(node, _)| node)
}

fn nodes(gathered: &Gathered) -> (Vec<String>, Vec<String>) {
    (gathered.answers.iter().map(|a| a.instance.clone()).collect(), gathered.unanswered.clone())
}

fn rfc3339(unix_seconds: i64) -> String {
    chrono::DateTime::from_timestamp(unix_seconds, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Two decimals.
fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}
