//! A Redis Cluster (Redis 7), with sharded pub/sub: what differs from one Redis. Channels carry
//! the user's partition as hash tag (`super::channels`), so subscribes and publishes batch per
//! slot; Herald owns its subscription set and subscribes everything again after any
//! disconnect, unsolicited `SUNSUBSCRIBE` or change of the slot map.

pub mod publisher;
mod push;
pub mod slots;
pub mod subscriber;

pub use publisher::Publisher;
pub use subscriber::Subscriber;
