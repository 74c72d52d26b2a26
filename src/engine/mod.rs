//! The scan engine: schedules connects and probes with bounded concurrency and turns facts
//! into a [`crate::outcome::ScanOutcome`].

pub mod limits;
pub mod ports;
pub mod top_ports;
