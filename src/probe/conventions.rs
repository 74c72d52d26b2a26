//! Port conventions, one table each: which ports speak TLS from the first byte, which of
//! those serve HTTP, and which serve plain HTTP although nmap's table names them after
//! something else. The banner nudge, the direct-TLS decision and the HTTPS decision all read
//! these, so they cannot drift apart.

/// Ports where TLS starts with the first byte by convention (IANA / de-facto service names).
pub const DIRECT_TLS_PORTS: &[u16] = &[
    261,   // nsiiops
    443,   // https
    465,   // submissions (SMTP over TLS, RFC 8314)
    563,   // nntps
    636,   // ldaps
    853,   // domain-s (DNS over TLS, RFC 7858)
    989,   // ftps-data
    990,   // ftps
    992,   // telnets
    993,   // imaps
    994,   // ircs
    995,   // pop3s
    2376,  // docker daemon with TLS
    3269,  // Active Directory global catalog over TLS
    4443,  // https-alt (de facto)
    5061,  // sips
    5986,  // WinRM over HTTPS
    6443,  // Kubernetes API server
    6697,  // ircs-u (RFC 7194)
    8443,  // https-alt
    8883,  // secure-mqtt
    9443,  // https-alt (de facto)
    10250, // kubelet
];

/// Direct-TLS ports whose application protocol is HTTP: HTTP is probed over TLS there even
/// when the server selected no ALPN protocol.
pub const HTTPS_PORTS: &[u16] = &[443, 2376, 4443, 5986, 6443, 8443, 9443, 10250];

/// Ports that serve HTTP although nmap's table names them after something else.
pub const HTTP_PORTS: &[u16] = &[
    81, 82, 83, 591, 2375, 3000, 4000, 5000, 5601, 5984, 7001, 8000, 8008, 8081, 8082, 8086, 8088,
    8888, 9000, 9090, 9091, 9200, 10255,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::service::{is_tls_service, port_service};

    #[test]
    fn the_tables_agree() {
        for p in HTTPS_PORTS {
            assert!(
                DIRECT_TLS_PORTS.contains(p),
                "HTTPS port {p} must be a direct-TLS port"
            );
        }
        for p in HTTP_PORTS {
            assert!(
                !DIRECT_TLS_PORTS.contains(p),
                "{p} is both plain HTTP and TLS"
            );
        }
        for table in [DIRECT_TLS_PORTS, HTTPS_PORTS, HTTP_PORTS] {
            assert!(
                table.windows(2).all(|w| w[0] < w[1]),
                "sorted, no repeats: {table:?}"
            );
        }
        // Every port whose conventional service is a TLS one is in the direct-TLS table.
        for port in 1..=u16::MAX {
            if port_service(port).is_some_and(is_tls_service) {
                assert!(
                    DIRECT_TLS_PORTS.contains(&port),
                    "{port} ({:?})",
                    port_service(port)
                );
            }
        }
    }
}
