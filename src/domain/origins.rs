//! Which browser origins may use the node (`ALLOWED_ORIGINS`): one list for the `Origin` check of
//! the WebSocket and SSE handshakes and for CORS. A page served from the node's own host (the
//! test page, the admin console) is always allowed; an empty list allows any origin.

/// The allowed origins, lowercase, without a trailing slash.
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins {
    origins: Vec<String>,
}

impl AllowedOrigins {
    pub fn new(origins: &[String]) -> AllowedOrigins {
        let origins = origins.iter().map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase()).collect();
        AllowedOrigins { origins }
    }

    /// Whether a list was configured (else any origin is allowed and no CORS headers are sent).
    pub fn is_restricted(&self) -> bool {
        !self.origins.is_empty()
    }

    /// The configured origins, as given (lowercase).
    pub fn listed(&self) -> &[String] {
        &self.origins
    }

    /// Whether a browser on `origin` may call the node reached as `host` (the request's `Host`).
    pub fn allows(&self, origin: &str, host: Option<&str>) -> bool {
        if !self.is_restricted() {
            return true;
        }
        let origin = origin.trim().trim_end_matches('/');
        self.origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin)) || same_host(origin, host)
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the host the request was sent to.
fn same_host(origin: &str, host: Option<&str>) -> bool {
    let (Some((_scheme, authority)), Some(host)) = (origin.split_once("://"), host) else { return false };
    !authority.is_empty() && authority.eq_ignore_ascii_case(host.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(origins: &[&str]) -> AllowedOrigins {
        AllowedOrigins::new(&origins.iter().map(|o| o.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn an_empty_list_allows_any_origin() {
        assert!(!list(&[]).is_restricted());
        assert!(list(&[]).allows("https://anything.example", None));
    }

    #[test]
    fn listed_origins_match_whatever_their_case_and_trailing_slash() {
        let origins = list(&["https://App.example.com/"]);
        assert!(origins.allows("https://app.example.com", Some("herald.example.com")));
        assert!(origins.allows("HTTPS://APP.EXAMPLE.COM/", None));
        assert!(!origins.allows("https://app.example.com:8443", None));
        assert!(!origins.allows("http://app.example.com", None));
        assert!(!origins.allows("https://evil.example.com", Some("herald.example.com")));
    }

    #[test]
    fn the_nodes_own_host_is_always_allowed() {
        let origins = list(&["https://app.example.com"]);
        assert!(origins.allows("http://127.0.0.1:8080", Some("127.0.0.1:8080")));
        assert!(origins.allows("https://herald.example.com", Some("Herald.example.com")));
        assert!(!origins.allows("http://127.0.0.1:8081", Some("127.0.0.1:8080")));
        assert!(!origins.allows("null", Some("null")), "an opaque origin has no host");
        assert!(!origins.allows("http://127.0.0.1:8080", None));
    }
}
