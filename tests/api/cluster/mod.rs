//! Several nodes on one PostgreSQL database and one private Redis: fan-out, failures, lost publishes.

mod fanout;
mod faults;
mod lost_publish;
mod redis_password;
