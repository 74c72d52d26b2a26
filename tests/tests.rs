//! Integration tests: one binary, themed modules. They drive the real `posture` binary (or the
//! library) against real servers on loopback; nothing leaves 127.0.0.0/8.

mod support;

mod cli_basics;
mod exit_codes;
mod interrupt;
mod rules_cli;
mod sarif_output;
mod scan_ports;
mod shard;
