//! `Node`: one Herald node as a value, built from a `Config` in steps (state, listeners,
//! background tasks) and stopped through its `NodeHandle`. Port 0 picks a free port, so tests run
//! several nodes in one process and `main` is a thin shell.

use crate::auth::TokenVerifier;
use crate::broker::{memory::MemoryBroker, redis::RedisBroker, Broker};
use crate::cluster::{Cluster, NodeIdentity};
use crate::config::Config;
use crate::db::{self, ConnectionSettings, Db};
use crate::domain::AllowedOrigins;
use crate::http::{self, BodyLimits};
use crate::hub::Hub;
use crate::inbox::Inbox;
use crate::limits::budget::{self, Budgets, Rate};
use crate::limits::cluster::ClusterLimits;
use crate::metrics::Metrics;
use crate::readiness::ReadinessProbe;
use crate::subscriptions::Subscriptions;
use crate::ws::{self, WsContext, WsEndpoint, WsSettings};
use actix_web::dev::{Server, ServerHandle};
use actix_web::{middleware, web, App, HttpServer};
use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use tokio::sync::watch;

/// Events buffered between the broker and the node's delivery task before the oldest are lost
/// (then every session repairs from the database).
const MEMORY_BROKER_CAPACITY: usize = 65_536;

/// Why a node did not start, with the refusing layer's own error as the cause.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Keys(#[from] crate::auth::jwt::VerifierError),
    #[error(transparent)]
    Broker(#[from] crate::broker::error::StartError),
    #[error("database migration failed: {0}")]
    Migration(#[source] db::MigrateError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
}

pub struct Node {
    server: Server,
    port: u16,
    /// The `HERALD_OPS_BIND` listener for `/metrics` and `/readyz`, and its port.
    ops: Option<(Server, u16)>,
    broker: Broker,
    inbox: Inbox,
    hub: Arc<Hub>,
    handle: NodeHandle,
}

/// Stops a node: sockets are closed with 1001 at once (clients reconnect elsewhere), then the
/// HTTP server stops accepting and, when graceful, lets in-flight requests finish.
#[derive(Clone)]
pub struct NodeHandle {
    server: ServerHandle,
    ops_server: Option<ServerHandle>,
    shutdown: Arc<watch::Sender<bool>>,
}

impl NodeHandle {
    /// Sends the stop at once; the future resolves when the listeners have stopped.
    pub fn stop(&self, graceful: bool) -> impl Future<Output = ()> {
        let _ = self.shutdown.send(true);
        let ops = self.ops_server.as_ref().map(|ops| ops.stop(graceful));
        let main = self.server.stop(graceful);
        async move {
            main.await;
            if let Some(ops) = ops {
                ops.await;
            }
        }
    }
}

impl Node {
    /// Builds and binds the node. Must be called inside a Tokio/actix runtime; the returned
    /// node serves once `run` is awaited (or spawned). In order: the token verifier and the
    /// migrations, the node's state, its listeners, then its background tasks.
    pub fn build(config: Config) -> Result<Node, StartupError> {
        let verifier = TokenVerifier::from_config(&config.jwt)?;
        migrate_on_start(&config)?;
        let state = State::start(&config)?;
        let listener =
            TcpListener::bind(config.bind).map_err(|source| StartupError::Bind { addr: config.bind, source })?;
        let port = listener.local_addr().map_err(|source| StartupError::Bind { addr: config.bind, source })?.port();
        let data = AppData::new(&config, &state, verifier);
        let ops = config.ops_bind.map(|addr| ops_server(addr, data.clone())).transpose()?;
        let server = main_server(&config, listener, data, ops.is_none())?;
        state.spawn_background_tasks(&config);
        let handle = NodeHandle {
            server: server.handle(),
            ops_server: ops.as_ref().map(|(ops, _)| ops.handle()),
            shutdown: Arc::new(state.shutdown_tx),
        };
        Ok(Node { server, port, ops, broker: state.broker, inbox: state.inbox, hub: state.hub, handle })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the `HERALD_OPS_BIND` listener, when there is one.
    pub fn ops_port(&self) -> Option<u16> {
        self.ops.as_ref().map(|(_, port)| *port)
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    pub fn inbox(&self) -> &Inbox {
        &self.inbox
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// Serves until stopped by `handle().stop`.
    pub async fn run(self) -> std::io::Result<()> {
        if let Some((ops, _)) = self.ops {
            actix_web::rt::spawn(ops);
        }
        self.server.await
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        let handle = self.handle();
        actix_web::rt::spawn(async move {
            wait_for_signal().await;
            log::info!("shutting down: closing sockets with 1001, finishing in-flight requests");
            handle.stop(true).await;
        });
        self.run().await
    }
}

/// Runs the pending migrations when `HERALD_MIGRATE_ON_START` asks for it.
fn migrate_on_start(config: &Config) -> Result<(), StartupError> {
    if config.migrate_on_start {
        let ran = db::migrate(&config.database).map_err(StartupError::Migration)?;
        if ran > 0 {
            log::info!("applied {ran} database migration(s) to {:?}", config.database);
        }
    }
    Ok(())
}

/// What the node runs on, built before any listener: the database behind the inbox, the
/// broker, the hub with its subscriptions owner, the metrics and the shutdown signal.
struct State {
    identity: NodeIdentity,
    metrics: Arc<Metrics>,
    hub: Arc<Hub>,
    broker: Broker,
    subscriptions: Subscriptions,
    inbox: Inbox,
    shutdown_tx: watch::Sender<bool>,
    shutdown: watch::Receiver<bool>,
}

impl State {
    fn start(config: &Config) -> Result<State, StartupError> {
        let metrics = Arc::new(Metrics::new(&config.node_id));
        let db = Db::new(&config.database, config.db_pool_size, ConnectionSettings::from_config(config))
            .with_pool_wait_metric(metrics.db_pool_wait.clone());
        let hub = Arc::new(Hub::new());
        let (shutdown_tx, shutdown) = watch::channel(false);
        let broker = match &config.redis {
            None => Broker::Memory(MemoryBroker::new(MEMORY_BROKER_CAPACITY)),
            Some(redis) => Broker::Redis(RedisBroker::start(
                redis,
                MEMORY_BROKER_CAPACITY,
                config.redis_republish_bytes,
                shutdown.clone(),
            )?),
        };
        let subscriptions = Subscriptions::start(broker.clone(), hub.clone(), shutdown.clone());
        let mut inbox = Inbox::new(
            (db, broker.clone()),
            (config.max_broadcast_recipients, config.max_stored_per_user),
            (config.group_commit_wait, metrics.group_commit_batch_size.clone()),
            metrics.notifications_created.clone(),
            config.notification_types.clone(),
        );
        if config.hang_before_publish {
            inbox = inbox.hanging_before_publish();
        }
        let identity = NodeIdentity::new(&config.node_id);
        Ok(State { identity, metrics, hub, broker, subscriptions, inbox, shutdown_tx, shutdown })
    }

    /// Per-user limits across every node, when Redis is configured (kept alive until shutdown).
    fn cluster_limits(&self, config: &Config) -> Option<Arc<ClusterLimits>> {
        let Broker::Redis(redis) = &self.broker else { return None };
        let limits = Arc::new(ClusterLimits::new(
            redis.command_pool(),
            &self.identity.instance,
            rates(config),
            config.max_sockets_per_user,
        ));
        actix_web::rt::spawn(limits.clone().keep_alive(self.hub.clone(), self.shutdown.clone()));
        Some(limits)
    }

    /// The tasks that run beside the listeners until shutdown: the broker → hub delivery, the
    /// position check, retention and the snooze waker.
    fn spawn_background_tasks(&self, config: &Config) {
        actix_web::rt::spawn(self.hub.clone().deliver_all(self.broker.subscribe()));
        actix_web::rt::spawn(crate::repair::run(
            self.inbox.db().clone(),
            self.hub.clone(),
            config.position_check_interval,
            self.metrics.clone(),
            self.shutdown.clone(),
        ));
        actix_web::rt::spawn(crate::retention::run_periodically(
            self.inbox.db().clone(),
            config.retention,
            self.shutdown.clone(),
        ));
        actix_web::rt::spawn(crate::snooze::run(self.inbox.clone(), self.shutdown.clone()));
    }
}

/// What every HTTP worker of the main listener is handed.
#[derive(Clone)]
struct AppData {
    verifier: web::Data<TokenVerifier>,
    inbox: web::Data<Inbox>,
    broker: web::Data<Broker>,
    ws_endpoint: web::Data<WsEndpoint>,
    metrics: web::Data<Metrics>,
    hub: web::Data<Hub>,
    budgets: web::Data<Budgets>,
    dev_tokens: web::Data<http::static_files::DevTokens>,
    readiness: web::Data<ReadinessProbe>,
    cluster: web::Data<Cluster>,
}

impl AppData {
    /// Builds the handlers' state; starts the cluster limits' keep-alive and the task that
    /// forgets idle rate limits.
    fn new(config: &Config, state: &State, verifier: TokenVerifier) -> AppData {
        let verifier = web::Data::new(verifier);
        let cluster_limits = state.cluster_limits(config);
        let (users, services) = rates(config);
        let budgets = web::Data::new(Budgets::new(users, services, cluster_limits.clone()));
        actix_web::rt::spawn(budget::forget_idle_periodically(budgets.clone().into_inner(), state.shutdown.clone()));
        let ws_endpoint = web::Data::new(WsEndpoint {
            context: Arc::new(WsContext {
                metrics: state.metrics.clone(),
                inbox: state.inbox.clone(),
                subscriptions: state.subscriptions.clone(),
                hub: state.hub.clone(),
                verifier: verifier.clone(),
                settings: WsSettings {
                    outbox_size: config.ws_outbox_size,
                    ping_interval: config.ws_ping_interval,
                    ping_timeout: config.ws_ping_timeout,
                    frames_per_second: ws::session::frames_per_second(config.ws_frames_per_second),
                    token_leeway: config.jwt.leeway,
                },
                shutdown: state.shutdown.clone(),
                cluster_limits,
                budgets: budgets.clone().into_inner(),
            }),
            origins: AllowedOrigins::new(&config.allowed_origins),
            max_sockets: config.max_sockets,
            max_sockets_per_user: config.max_sockets_per_user,
            handshakes: crate::limits::local::HandshakeBudget::new(config.ws_handshakes_per_second),
        });
        let dev_tokens =
            web::Data::new(http::static_files::DevTokens(config.uses_development_secret().then(|| config.jwt.clone())));
        let probes = state.metrics.readiness_probes.clone();
        let jwks = verifier.jwks().cloned();
        if let Some(jwks) = &jwks {
            jwks.count_in(state.metrics.jwks.clone());
            actix_web::rt::spawn(crate::auth::jwks::refresh_periodically(jwks.clone(), state.shutdown.clone()));
        }
        let readiness = Arc::new(ReadinessProbe::new(state.inbox.clone(), state.broker.clone(), jwks, probes));
        AppData {
            cluster: web::Data::from(Cluster::start(
                state.identity.clone(),
                (state.broker.clone(), state.hub.clone()),
                (readiness.clone(), state.metrics.clone()),
                state.shutdown.clone(),
            )),
            readiness: web::Data::from(readiness),
            verifier,
            inbox: web::Data::new(state.inbox.clone()),
            broker: web::Data::new(state.broker.clone()),
            ws_endpoint,
            metrics: web::Data::from(state.metrics.clone()),
            hub: web::Data::from(state.hub.clone()),
            budgets,
            dev_tokens,
        }
    }
}

/// The main listener: the API, the WebSocket endpoint, the static files and (without
/// `HERALD_OPS_BIND`, `with_ops`) the operations endpoints.
fn main_server(config: &Config, listener: TcpListener, data: AppData, with_ops: bool) -> Result<Server, StartupError> {
    let limits = BodyLimits { default_bytes: config.max_body_bytes, broadcast_bytes: config.max_broadcast_body_bytes };
    let access_log = log::log_enabled!(target: "herald::http", log::Level::Info);
    let origins = AllowedOrigins::new(&config.allowed_origins);
    let server = HttpServer::new(move || {
        App::new()
            // One line per request at info; no work at all when the filter drops them.
            .wrap(middleware::Condition::new(
                access_log,
                middleware::Logger::new("%{method}xi %U %s %Dms")
                    .custom_request_replace("method", |req| req.method().to_string())
                    .exclude("/healthz")
                    .log_target("herald::http"),
            ))
            .app_data(data.verifier.clone())
            .app_data(data.inbox.clone())
            .app_data(data.broker.clone())
            .app_data(data.ws_endpoint.clone())
            .app_data(data.metrics.clone())
            .app_data(data.hub.clone())
            .app_data(data.budgets.clone())
            .app_data(data.dev_tokens.clone())
            .app_data(data.readiness.clone())
            .app_data(data.cluster.clone())
            .wrap(middleware::from_fn(http::record_request))
            .wrap(http::security_headers())
            .wrap(http::cors(&origins))
            .configure(|cfg| http::configure(cfg, limits, with_ops))
            .default_service(web::to(http::not_found))
    })
    .workers(config.workers)
    .shutdown_timeout(config.shutdown_timeout.as_secs())
    .disable_signals()
    .on_connect(ws::on_connect)
    .listen(listener)
    .map_err(|source| StartupError::Bind { addr: config.bind, source })?
    .run();
    Ok(server)
}

/// The `HERALD_OPS_BIND` listener: `/metrics`, `/readyz` and `/healthz` only, one worker; it
/// shares the main listener's readiness probe (one per node).
fn ops_server(addr: std::net::SocketAddr, data: AppData) -> Result<(Server, u16), StartupError> {
    let bind_error = |source| StartupError::Bind { addr, source };
    let listener = TcpListener::bind(addr).map_err(bind_error)?;
    let port = listener.local_addr().map_err(bind_error)?.port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.inbox.clone())
            .app_data(data.metrics.clone())
            .app_data(data.hub.clone())
            .app_data(data.broker.clone())
            .app_data(data.readiness.clone())
            .configure(http::configure_ops)
            .default_service(web::to(http::not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .map_err(bind_error)?
    .run();
    Ok((server, port))
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The end users' and the services' budgets, as configured.
fn rates(config: &Config) -> (Rate, Rate) {
    (
        Rate { per_second: config.rate_limit_per_second, burst: config.rate_limit_burst },
        Rate { per_second: config.service_rate_limit_per_second, burst: config.service_rate_limit_burst },
    )
}
