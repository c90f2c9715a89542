//! The cluster as the admin console sees it: every node answers for itself, through the
//! broker's control channel. A question (a user's live sockets, disconnecting them, each
//! node's status) is published to every node, this one included; each node answers from its
//! own hub, counters and readiness; the asker gathers the answers until every node alive by its
//! heartbeat (`Broker::alive_nodes`) answered or `ANSWER_WITHIN` passed, and names the nodes
//! that did not. Works alike on one Redis, a Redis Cluster (the control channel is a shard
//! channel) and the in-process broker (one node, its own answers).
//!
//! The wire format is `messages`; this node's recent activity is `node_status`.

pub mod messages;
pub mod node_status;

use crate::broker::error::CommandError;
use crate::broker::Broker;
use crate::domain::UserId;
use crate::hub::Hub;
use crate::limits::cluster::NODE_LEASE;
use crate::metrics::Metrics;
use crate::readiness::ReadinessProbe;
use messages::{Answer, Body, Envelope, LiveSocket, NodeAnswer, NodeStatus, Question};
use node_status::RecentActivity;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::{timeout_at, Instant};

/// How long an asker waits for the nodes' answers.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// How long a status waits for the readiness probe (a database that hangs shows as such).
const READINESS_WAIT: Duration = Duration::from_millis(500);
/// Answers queued for one question, at most (one per node; the rest are dropped).
const ANSWERS_QUEUED: usize = 256;

/// This run of this node: its `NODE_ID`, an instance name no other run shares, and its start.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    pub node: String,
    /// `NODE_ID-<8 hex digits>`.
    pub instance: String,
    /// Unix seconds.
    pub started_at: i64,
}

impl NodeIdentity {
    pub fn new(node_id: &str) -> NodeIdentity {
        NodeIdentity {
            node: node_id.to_owned(),
            instance: format!("{node_id}-{:08x}", rand::random::<u32>()),
            started_at: unix_seconds(),
        }
    }
}

/// The answers to one question, and the nodes alive that did not answer in time.
#[derive(Debug)]
pub struct Gathered {
    pub answers: Vec<NodeAnswer>,
    pub unanswered: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("the nodes alive could not be read from redis: {0}")]
    Nodes(#[from] CommandError),
    #[error("the broker did not take the question")]
    NotSent,
}

pub struct Cluster {
    identity: NodeIdentity,
    broker: Broker,
    hub: Arc<Hub>,
    readiness: Arc<ReadinessProbe>,
    activity: Arc<RecentActivity>,
    /// Questions this node asked that are still gathering answers, by id.
    waiting: Mutex<HashMap<u64, mpsc::Sender<NodeAnswer>>>,
    next_id: AtomicU64,
}

impl Cluster {
    /// Starts the node's cluster view: it answers the control channel, and samples this
    /// node's activity, until shutdown.
    pub fn start(
        identity: NodeIdentity,
        (broker, hub): (Broker, Arc<Hub>),
        (readiness, metrics): (Arc<ReadinessProbe>, Arc<Metrics>),
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Cluster> {
        let activity = Arc::new(RecentActivity::new(metrics));
        tokio::spawn(activity.clone().run(shutdown.clone()));
        let next_id = AtomicU64::new(rand::random::<u32>().into());
        let cluster =
            Arc::new(Cluster { identity, broker, hub, readiness, activity, waiting: Mutex::default(), next_id });
        tokio::spawn(cluster.clone().run(shutdown));
        cluster
    }

    pub fn identity(&self) -> &NodeIdentity {
        &self.identity
    }

    /// Whether nodes other than this one may exist (a Redis broker).
    pub fn is_shared(&self) -> bool {
        self.broker.routes_by_channel()
    }

    /// Asks every node and gathers their answers (see the module).
    pub async fn ask(&self, question: Question) -> Result<Gathered, ClusterError> {
        let alive = self.broker.alive_nodes(NODE_LEASE).await?;
        let mut expected: BTreeSet<String> = alive.unwrap_or_default().into_iter().collect();
        expected.insert(self.identity.instance.clone());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, mut answers) = mpsc::channel(ANSWERS_QUEUED);
        let _waiting = Waiting::register(self, id, sender);
        let envelope = Envelope { id, asker: self.identity.instance.clone(), body: Body::Question(question) };
        if !self.publish(&envelope).await {
            return Err(ClusterError::NotSent);
        }
        let deadline = Instant::now() + ANSWER_WITHIN;
        let mut gathered = Vec::new();
        while !expected.is_empty() {
            let Ok(Some(answer)) = timeout_at(deadline, answers.recv()).await else { break };
            expected.remove(&answer.instance);
            gathered.push(answer);
        }
        gathered.sort_by(|a, b| (&a.node, &a.instance).cmp(&(&b.node, &b.instance)));
        Ok(Gathered { answers: gathered, unanswered: expected.into_iter().collect() })
    }

    /// Answers the questions arriving on the control channel, and hands the answers to this
    /// node's questions to their askers, until shutdown. One at a time: questions are rare.
    async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut messages = self.broker.control_messages();
        loop {
            let message = tokio::select! {
                _ = shutdown.changed() => return,
                message = messages.recv() => message,
            };
            match message {
                Ok(bytes) => self.receive(&bytes).await,
                Err(broadcast::error::RecvError::Lagged(lost)) => {
                    log::warn!("cluster view: {lost} control message(s) dropped (arriving faster than answered)")
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    async fn receive(&self, bytes: &[u8]) {
        let envelope: Envelope = match serde_json::from_slice(bytes) {
            Ok(envelope) => envelope,
            Err(err) => return log::warn!("cluster view: ignoring a malformed control message: {err}"),
        };
        match envelope.body {
            Body::Question(question) => {
                let answer = NodeAnswer {
                    node: self.identity.node.clone(),
                    instance: self.identity.instance.clone(),
                    answer: self.answer(question).await,
                };
                let reply = Envelope { id: envelope.id, asker: envelope.asker, body: Body::Answer(answer) };
                if !self.publish(&reply).await {
                    log::warn!("cluster view: an answer to {} was not published", reply.asker);
                }
            }
            Body::Answer(answer) if envelope.asker == self.identity.instance => {
                let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(sender) = waiting.get(&envelope.id) {
                    let _ = sender.try_send(answer);
                }
            }
            Body::Answer(_) => {}
        }
    }

    /// This node's answer to a question.
    async fn answer(&self, question: Question) -> Answer {
        match question {
            Question::Sockets { user } => {
                let sessions = UserId::new(user).map(|user| self.hub.user_sessions(user)).unwrap_or_default();
                let sockets = sessions
                    .into_iter()
                    .map(|(id, info)| LiveSocket {
                        session: format!("{:016x}", id.0),
                        connected_at: info.connected_at,
                        client_addr: info.client_addr.map(String::from),
                        user_agent: info.user_agent.map(String::from),
                    })
                    .collect();
                Answer::Sockets { sockets }
            }
            Question::Disconnect { user } => {
                Answer::Disconnected { count: UserId::new(user).map_or(0, |user| self.hub.disconnect_user(user)) }
            }
            Question::Status => Answer::Status(self.status().await),
        }
    }

    async fn status(&self) -> NodeStatus {
        let checks = match tokio::time::timeout(READINESS_WAIT, self.readiness.described()).await {
            Ok(checks) => checks.into_iter().map(|(name, answer)| (name.to_owned(), answer)).collect(),
            Err(_) => [("readiness".to_owned(), format!("no answer within {READINESS_WAIT:?}"))].into(),
        };
        let activity = self.activity.now();
        NodeStatus {
            started_at: self.identity.started_at,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            sockets: self.hub.session_count(),
            users: self.hub.user_count(),
            creates_per_second: activity.creates_per_second,
            pushes_per_second: activity.pushes_per_second,
            delivery_p99_ms: activity.delivery_p99_ms,
            checks,
        }
    }

    async fn publish(&self, envelope: &Envelope) -> bool {
        match serde_json::to_vec(envelope) {
            Ok(payload) => self.broker.publish_control(&payload).await,
            Err(_) => false,
        }
    }
}

/// A question's place in `Cluster::waiting`, removed when the asker stops gathering.
struct Waiting<'a> {
    cluster: &'a Cluster,
    id: u64,
}

impl<'a> Waiting<'a> {
    fn register(cluster: &'a Cluster, id: u64, sender: mpsc::Sender<NodeAnswer>) -> Waiting<'a> {
        cluster.waiting.lock().unwrap_or_else(|e| e.into_inner()).insert(id, sender);
        Waiting { cluster, id }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.cluster.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

fn unix_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
