//! `Node`: one Herald node as a value, built from a `Config`. It opens the database pool, runs
//! migrations when configured, builds the broker and binds its listener (port 0 picks a free
//! port), so tests run several nodes in one process and `main` is a thin shell.

use crate::auth::TokenVerifier;
use crate::broker::{memory::MemoryBroker, Broker};
use crate::config::Config;
use crate::db::{self, Db};
use crate::http::{self, BodyLimits};
use crate::inbox::Inbox;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{middleware, web, App, HttpServer};
use std::net::TcpListener;

/// Events the in-process broker buffers per receiver before the slowest loses the oldest.
const MEMORY_BROKER_CAPACITY: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Config(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
}

pub struct Node {
    server: Server,
    port: u16,
    broker: Broker,
    inbox: Inbox,
}

impl Node {
    /// Builds and binds the node. Must be called inside a Tokio/actix runtime; the returned
    /// node serves once `run` is awaited (or spawned).
    pub fn build(config: Config) -> Result<Node, StartupError> {
        if config.redis_url.is_some() {
            return Err(StartupError::Config(
                "REDIS_URL is set, but this build of Herald has only the in-process broker (one node); unset REDIS_URL"
                    .into(),
            ));
        }
        let verifier = TokenVerifier::from_config(&config.jwt).map_err(StartupError::Config)?;
        if config.migrate_on_start {
            let ran = db::migrate(&config.database).map_err(StartupError::Migration)?;
            if ran > 0 {
                log::info!("applied {ran} database migration(s) to {:?}", config.database);
            }
        }
        let db = Db::new(&config.database, config.db_pool_size, config.db_timeout);
        let broker = Broker::Memory(MemoryBroker::new(MEMORY_BROKER_CAPACITY));
        let inbox = Inbox::new(db, broker.clone(), config.max_broadcast_recipients);

        let listener =
            TcpListener::bind(config.bind).map_err(|source| StartupError::Bind { addr: config.bind, source })?;
        let port = listener.local_addr().map_err(|source| StartupError::Bind { addr: config.bind, source })?.port();
        let limits =
            BodyLimits { default_bytes: config.max_body_bytes, broadcast_bytes: config.max_broadcast_body_bytes };
        let verifier = web::Data::new(verifier);
        let inbox_data = web::Data::new(inbox.clone());
        let broker_data = web::Data::new(broker.clone());
        let server = HttpServer::new(move || {
            App::new()
                .wrap(
                    middleware::Logger::new("%{method}xi %U %s %Dms")
                        .custom_request_replace("method", |req| req.method().to_string())
                        .exclude("/healthz")
                        .log_target("herald::http"),
                )
                .app_data(verifier.clone())
                .app_data(inbox_data.clone())
                .app_data(broker_data.clone())
                .configure(|cfg| http::configure(cfg, limits))
                .default_service(web::to(http::not_found))
        })
        .workers(config.workers)
        .listen(listener)
        .map_err(|source| StartupError::Bind { addr: config.bind, source })?
        .run();
        Ok(Node { server, port, broker, inbox })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    pub fn inbox(&self) -> &Inbox {
        &self.inbox
    }

    /// Stops the node: `handle().stop(true)` finishes in-flight requests first.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGTERM/SIGINT, or `handle().stop`).
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}
