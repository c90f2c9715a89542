//! The one integration-test binary (each file under tests/ would be another link on 2 cores), in
//! folders by area. Every test owns its world: a fresh database, nodes on port 0, bounded waits.

mod abuse;
mod admin;
mod cluster;
mod deploy;
mod helpers;
mod import;
mod inbox;
mod ops;
mod redis_cluster;
mod rest;
mod sse;
mod storage;
mod ws;
