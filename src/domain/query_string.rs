//! `QueryString`: a URL query string decoded once into its pairs (`a=1&b=x%20y`), for every edge
//! that reads one (the list query, the WebSocket handshake, `/dev/token`). A name given twice
//! reads as its first value.

use super::invalid::Invalid;

/// The decoded `name=value` pairs of a query string, in order.
#[derive(Debug, Default)]
pub struct QueryString(Vec<(String, String)>);

impl QueryString {
    /// Decodes `raw` (without its `?`); a malformed one is `Invalid` on the field `query`.
    pub fn parse(raw: &str) -> Result<QueryString, Invalid> {
        serde_urlencoded::from_str(raw).map(QueryString).map_err(|_| Invalid::new("query", "query string is not valid"))
    }

    /// The first value given for `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// Every pair, in the order given.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(name, value)| (name.as_str(), value.as_str()))
    }
}
