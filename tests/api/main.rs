//! The one integration-test binary (each file under tests/ would be another link on 2 cores).
//! Every test owns its world: a fresh database, nodes on port 0, bounded waits.

mod abuse;
mod auth;
mod bounded_memory;
mod browser;
mod cli;
mod cluster;
mod cluster_fanout;
mod cluster_faults;
mod cluster_limits;
mod compose;
mod db_stall;
mod deploy_files;
mod docs;
mod faults;
mod group_commit;
mod helpers;
mod layers;
mod limits;
mod logs;
mod lost_publish;
mod metrics;
mod monitoring;
mod nginx;
mod openapi;
mod redis_cluster;
mod rest;
mod retention;
mod secrets;
mod selftest;
mod storage;
mod validation;
mod ws;
mod ws_frames;
mod ws_fuzz;
mod ws_push;
