//! The scan engine: schedules connects and probes with bounded concurrency and turns facts
//! into a [`crate::outcome::ScanOutcome`].

pub mod domains;
pub mod endpoint;
pub mod fdlimit;
pub mod inventory;
pub mod limits;
pub mod overlap;
pub mod plan;
pub mod ports;
pub mod run;
pub mod shard;
pub mod sweep;
pub mod top_ports;
