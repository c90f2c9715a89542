//! The deployment: its files parsed, nginx.conf run for real, and the compose stack under drills.

mod compose;
mod files;
mod nginx;
