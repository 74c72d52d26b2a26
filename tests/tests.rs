//! Integration tests: one binary, themed modules. They drive the real `posture` binary (or the
//! library) against real servers on loopback; nothing leaves 127.0.0.0/8.

mod support;

mod cli_basics;
mod dns_checks;
mod exit_codes;
mod http_checks;
mod interrupt;
mod real_databases;
mod real_dns_more;
mod real_dns_servers;
mod real_infra_services;
mod real_ipv6;
mod real_remote_services;
mod real_resolvers;
mod real_servers;
mod real_services;
mod real_tls_stacks;
mod real_web_servers;
mod report_cli;
mod report_docs;
mod report_formats;
mod report_html;
mod rules_cli;
mod sarif_output;
mod scan_ports;
mod shard;
mod tls_checks;
