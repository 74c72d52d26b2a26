//! Probes: the only code that talks to servers. Each probe is a thin I/O function that records
//! typed facts (failures included) and hands the bytes it read to pure parsers.

pub mod banner;
pub mod conventions;
pub mod dns;
pub mod http;
pub mod service;
pub mod tls;
