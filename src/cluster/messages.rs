//! The control channel's wire format (JSON): a node's question to every node, and each node's
//! answer, both carrying the question's id and the asking node's instance, so that only the
//! asker reads an answer.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One message on the control channel.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// The question's number at its asker.
    pub id: u64,
    /// The asking node's instance.
    pub asker: String,
    pub body: Body,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    Question(Question),
    Answer(NodeAnswer),
}

/// What the console asks every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Question {
    /// The user's sockets on the node.
    Sockets { user: i64 },
    /// Close the user's sockets on the node with 4003.
    Disconnect { user: i64 },
    /// The node's status (`NodeStatus`).
    Status,
}

/// One node's answer: who answered, and what.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeAnswer {
    /// Its `NODE_ID`.
    pub node: String,
    /// This run of it (`NODE_ID-<random>`).
    pub instance: String,
    pub answer: Answer,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Answer {
    Sockets { sockets: Vec<LiveSocket> },
    Disconnected { count: usize },
    Status(NodeStatus),
}

/// One open socket of a user on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSocket {
    /// The session's id on its node (hexadecimal).
    pub session: String,
    /// Unix seconds.
    pub connected_at: i64,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
}

/// What a node says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Unix seconds.
    pub started_at: i64,
    pub version: String,
    pub sockets: usize,
    /// Users with a socket on the node.
    pub users: usize,
    /// Over the last `node_status::WINDOW` or so.
    pub creates_per_second: f64,
    pub pushes_per_second: f64,
    /// Publish → socket write, the 99th percentile over the same window, estimated from the
    /// histogram's buckets as Prometheus' `histogram_quantile` does; `None` without pushes.
    pub delivery_p99_ms: Option<f64>,
    /// Each dependency's readiness, as `/readyz` words it (`ok`, or why not).
    pub checks: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_question_and_an_answer_travel_as_json_and_back() {
        let question = Envelope { id: 7, asker: "a-1".into(), body: Body::Question(Question::Sockets { user: 42 }) };
        let text = serde_json::to_string(&question).expect("json");
        assert_eq!(text, r#"{"id":7,"asker":"a-1","body":{"question":{"op":"sockets","user":42}}}"#);
        let answer = Envelope {
            id: 7,
            asker: "a-1".into(),
            body: Body::Answer(NodeAnswer {
                node: "b".into(),
                instance: "b-2".into(),
                answer: Answer::Disconnected { count: 2 },
            }),
        };
        let back: Envelope = serde_json::from_str(&serde_json::to_string(&answer).expect("json")).expect("parse");
        assert!(matches!(back.body, Body::Answer(NodeAnswer { answer: Answer::Disconnected { count: 2 }, .. })));
    }
}
