//! The routes: `ROUTES`, the one list of what the node answers (`configure` registers exactly it
//! and `openapi` documents it; a test keeps the two equal), each path with and without its
//! trailing slash (no redirect), and the JSON 404/405 for unknown paths and methods.

use super::body::{json_config, BodyLimits};
use super::{admin, admin_cluster, notifications, openapi, ops, preferences, states, static_files};
use crate::error::ApiError;
use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use std::sync::OnceLock;

/// Which listener answers a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The main listener (`HERALD_BIND`) only.
    Main,
    /// `/metrics` and `/readyz`: the main listener, or only the `HERALD_OPS_BIND` listener when
    /// that is set.
    Ops,
    /// `/healthz`: both listeners.
    Both,
}

/// One method on one path that the node answers.
pub struct Route {
    pub method: Method,
    /// The documented form (SPEC §4: REST paths end in `/`); the node answers the path with and
    /// without its trailing slash alike. `{id}` is a path parameter.
    pub path: &'static str,
    pub listener: Listener,
    /// Whether the JSON body may be as large as a broadcast (`HERALD_MAX_BROADCAST_BODY_BYTES`).
    pub broadcast_body: bool,
    /// Adds the handler to a route of `method`.
    handler: fn(actix_web::Route) -> actix_web::Route,
}

/// Every route of SPEC §4, the operations endpoints, the WebSocket endpoint, the test page and
/// its client, in registration order. Static paths first: a request is matched against the
/// routes in this order, and static paths match by string comparison where an `{id}` path runs a
/// regex. Several methods of one path (preferences GET and PUT) share one resource, whose 405
/// names them all.
pub const ROUTES: &[Route] = {
    use notifications as n;
    &[
        route(Method::GET, "/auth/notifications/", Listener::Main, |r| r.to(n::list_notifications)),
        route(Method::POST, "/auth/notifications/create/", Listener::Main, |r| r.to(n::create_notification)),
        route(Method::POST, "/auth/notifications/mark-all-read/", Listener::Main, |r| r.to(n::mark_all_read)),
        route(Method::POST, "/auth/notifications/mark-all-seen/", Listener::Main, |r| r.to(states::mark_all_seen)),
        route(Method::POST, "/auth/notifications/bulk/", Listener::Main, |r| r.to(states::bulk)),
        route(Method::GET, "/auth/notifications/unread-count/", Listener::Main, |r| r.to(n::unread_count)),
        route(Method::GET, "/auth/notifications/preferences/", Listener::Main, |r| r.to(preferences::get_preferences)),
        route(Method::PUT, "/auth/notifications/preferences/", Listener::Main, |r| {
            r.to(preferences::update_preferences)
        }),
        route(Method::POST, "/auth/notifications/broadcast/", Listener::Main, |r| r.to(n::broadcast_notification))
            .with_broadcast_body(),
        route(Method::GET, "/ws/notifications/", Listener::Main, |r| r.to(crate::ws::connect)),
        route(Method::GET, "/sse/notifications/", Listener::Main, |r| r.to(crate::ws::sse::connect)),
        route(Method::GET, "/", Listener::Main, |r| r.to(static_files::index)),
        route(Method::GET, "/static/herald.js", Listener::Main, |r| r.to(static_files::herald_js)),
        route(Method::GET, "/static/test-page.js", Listener::Main, |r| r.to(static_files::test_page_js)),
        route(Method::GET, "/admin/", Listener::Main, |r| r.to(static_files::admin_index)),
        route(Method::GET, "/admin/console.js", Listener::Main, |r| r.to(static_files::admin_js)),
        route(Method::GET, "/admin/console.css", Listener::Main, |r| r.to(static_files::admin_css)),
        route(Method::GET, "/admin/favicon.svg", Listener::Main, |r| r.to(static_files::admin_icon)),
        route(Method::GET, "/static/test-page.css", Listener::Main, |r| r.to(static_files::test_page_css)),
        route(Method::GET, "/dev/token", Listener::Main, |r| r.to(static_files::dev_token)),
        route(Method::GET, "/openapi.json", Listener::Main, |r| r.to(openapi::openapi_json)),
        route(Method::GET, "/healthz", Listener::Both, |r| r.to(ops::healthz)),
        route(Method::GET, "/metrics", Listener::Ops, |r| r.to(ops::metrics)),
        route(Method::GET, "/readyz", Listener::Ops, |r| r.to(ops::readyz)),
        route(Method::POST, "/auth/notifications/{id}/read/", Listener::Main, |r| r.to(n::mark_read)),
        route(Method::POST, "/auth/notifications/{id}/unread/", Listener::Main, |r| r.to(n::mark_unread)),
        route(Method::POST, "/auth/notifications/{id}/seen/", Listener::Main, |r| r.to(states::mark_seen)),
        route(Method::POST, "/auth/notifications/{id}/archive/", Listener::Main, |r| r.to(states::archive)),
        route(Method::POST, "/auth/notifications/{id}/unarchive/", Listener::Main, |r| r.to(states::unarchive)),
        route(Method::POST, "/auth/notifications/{id}/snooze/", Listener::Main, |r| r.to(states::snooze)),
        route(Method::DELETE, "/auth/notifications/{id}/delete/", Listener::Main, |r| r.to(n::delete_notification)),
        route(Method::GET, "/admin/api/notifications/", Listener::Main, |r| r.to(admin::search_notifications)),
        route(Method::GET, "/admin/api/audit/", Listener::Main, |r| r.to(admin::audit_log)),
        route(Method::GET, "/admin/api/cluster/", Listener::Main, |r| r.to(admin_cluster::cluster_overview)),
        route(Method::GET, "/admin/api/preferences/", Listener::Main, |r| r.to(admin::search_preferences)),
        route(Method::POST, "/admin/api/broadcast/preview/", Listener::Main, |r| r.to(admin::preview_broadcast))
            .with_broadcast_body(),
        route(Method::GET, "/admin/api/notifications/{id}/", Listener::Main, |r| r.to(admin::get_notification)),
        route(Method::DELETE, "/admin/api/notifications/{id}/", Listener::Main, |r| r.to(admin::delete_notification)),
        route(Method::POST, "/admin/api/notifications/{id}/read/", Listener::Main, |r| r.to(admin::mark_read)),
        route(Method::POST, "/admin/api/notifications/{id}/unread/", Listener::Main, |r| r.to(admin::mark_unread)),
        route(Method::POST, "/admin/api/notifications/{id}/resend/", Listener::Main, |r| {
            r.to(admin::resend_notification)
        }),
        route(Method::GET, "/admin/api/users/{user_id}/", Listener::Main, |r| r.to(admin::get_user)),
        route(Method::PUT, "/admin/api/users/{user_id}/preferences/", Listener::Main, |r| {
            r.to(admin::update_user_preferences)
        }),
        route(Method::GET, "/admin/api/users/{user_id}/sockets/", Listener::Main, |r| {
            r.to(admin_cluster::user_sockets)
        }),
        route(Method::POST, "/admin/api/users/{user_id}/disconnect/", Listener::Main, |r| {
            r.to(admin_cluster::disconnect_user)
        }),
    ]
};

const fn route(
    method: Method,
    path: &'static str,
    listener: Listener,
    handler: fn(actix_web::Route) -> actix_web::Route,
) -> Route {
    Route { method, path, listener, broadcast_body: false, handler }
}

impl Route {
    const fn with_broadcast_body(mut self) -> Route {
        self.broadcast_body = true;
        self
    }
}

/// Registers the routes of `ROUTES` the main listener serves. `/metrics` and `/readyz` are left
/// out when `HERALD_OPS_BIND` serves them on their own listener (`configure_ops`).
pub fn configure(cfg: &mut web::ServiceConfig, limits: BodyLimits, with_ops: bool) {
    cfg.app_data(json_config(limits.default_bytes));
    register(cfg, Some(limits), |listener| listener != Listener::Ops || with_ops);
}

/// The routes of the `HERALD_OPS_BIND` listener: `/metrics`, `/readyz` and `/healthz`.
pub fn configure_ops(cfg: &mut web::ServiceConfig) {
    register(cfg, None, |listener| listener != Listener::Main);
}

/// Registers each path of `ROUTES` that `serves` (in first-appearance order) with all its
/// methods, as `path` and `path/` (no redirect; `/` only as itself), each with a JSON 405 naming
/// the path's methods for any other. Two resources rather than one with both patterns: a resource
/// with several patterns is a regex set, run for every request that reaches it.
fn register(cfg: &mut web::ServiceConfig, limits: Option<BodyLimits>, serves: impl Fn(Listener) -> bool) {
    for (index, first) in ROUTES.iter().enumerate() {
        let seen_before = ROUTES[..index].iter().any(|earlier| earlier.path == first.path);
        if seen_before || !serves(first.listener) {
            continue;
        }
        let methods: Vec<&Route> = ROUTES.iter().filter(|route| route.path == first.path).collect();
        let allow = allow_header(first.path);
        for pattern in path_forms(first.path) {
            let mut resource = web::resource(pattern).default_service(web::to(move || async move {
                Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow })
            }));
            if let (Some(limits), true) = (limits, first.broadcast_body) {
                resource = resource.app_data(json_config(limits.broadcast_bytes));
            }
            for route in &methods {
                resource = resource.route((route.handler)(web::method(route.method.clone())));
            }
            cfg.service(resource);
        }
    }
}

/// `path` without and with its trailing slash; `/` is only itself.
fn path_forms(path: &str) -> Vec<String> {
    let bare = path.trim_end_matches('/');
    if bare.is_empty() {
        return vec!["/".to_owned()];
    }
    vec![bare.to_owned(), format!("{bare}/")]
}

/// The `Allow` header of `path`: its methods in `ROUTES` order, e.g. `GET, PUT`. Built once.
fn allow_header(path: &str) -> &'static str {
    static ALLOW: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    let table = ALLOW.get_or_init(|| {
        let mut table: Vec<(&'static str, String)> = Vec::new();
        for route in ROUTES {
            match table.iter_mut().find(|(p, _)| *p == route.path) {
                Some((_, allow)) => {
                    allow.push_str(", ");
                    allow.push_str(route.method.as_str());
                }
                None => table.push((route.path, route.method.as_str().to_owned())),
            }
        }
        table
    });
    table.iter().find(|(p, _)| *p == path).map_or("", |(_, allow)| allow.as_str())
}

/// The answer for any path no route matches.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
