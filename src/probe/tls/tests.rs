//! Loopback tests of the whole TLS probe against real servers:
//!
//! * the lab's rustls servers with certificates of its private PKI generated relative to now
//!   (clean, expired, expiring, not-yet-valid, self-signed, missing intermediate, wrong SAN,
//!   RSA 2048) and its SMTP STARTTLS server ([`crate::lab::tls_lab`]);
//! * `openssl s_server` (the CLI must be installed: these tests fail without it) for what
//!   rustls/ring cannot serve: TLS 1.0/1.1, NULL and anon suites, RSA-1024 with SHA-1;
//! * replay responders answering hand-built ServerHellos for what Debian's OpenSSL 3 no longer
//!   has (SSLv3, RC4, EXPORT, DES);
//! * hostile servers (silent, garbage, oversized chain): a recorded error within the deadline.
//!
//! The openssl CLI helpers and hand-built flights are the integration tests' own
//! (`tests/support/tls_shared.rs`), compiled in here.

use super::hello::{parse_server_flight, Version};
use super::*;
use crate::lab::tls_lab::{
    serve_smtp_starttls, serve_tls, serve_tls_records, LabCert, LabPki, LabServer,
};
use rcgen::KeyPair;
use std::time::Instant;
use tokio::net::TcpListener;

#[path = "../../../tests/support/tls_shared.rs"]
mod tls_shared;
use tls_shared::{
    openssl, openssl_ca_and_leaf, openssl_self_signed, oversized_chain_flight,
    s_server_ca_and_leaf, s_server_self_signed, server_hello,
};

const SH_SSL3_RC4: &[u8] = include_bytes!("../../../fixtures/tls/serverhello-ssl3-rc4-md5.bin");

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

fn config(trust: TrustStore, now: OffsetDateTime) -> TlsProbeConfig {
    TlsProbeConfig {
        timeout: Duration::from_millis(700),
        probe_deadline: Duration::from_millis(1500),
        chain_certs: 10,
        trust: Arc::new(trust),
        now,
    }
}

// ---------------------------------------------------------------- certificates and servers

/// A private PKI (root and intermediate) made now; leaves come with the intermediate.
fn pki() -> LabPki {
    LabPki::new(now()).unwrap()
}

/// `pki`'s root as the only extra anchor (like `--ca-file`).
fn trust(pki: &LabPki) -> TrustStore {
    TrustStore::with_extra(std::slice::from_ref(&pki.root.der)).unwrap()
}

/// A rustls server on 127.0.0.1 (TLS 1.2 and 1.3, no ALPN) presenting `cert` until dropped.
async fn tls_server(cert: LabCert) -> LabServer {
    serve_tls(cert).await.unwrap()
}

/// A raw server: for each connection, read the ClientHello record, and answer what `respond`
/// returns for it (then close).
async fn raw_server(respond: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static) -> LabServer {
    serve_tls_records(respond).await.unwrap()
}

/// The ClientHello's version and offered suites.
fn client_hello_of(record: &[u8]) -> (u16, Vec<u16>) {
    use tls_parser::{parse_tls_plaintext, TlsMessage, TlsMessageHandshake};
    let (_, rec) = parse_tls_plaintext(record).expect("a ClientHello record");
    match &rec.msg[0] {
        TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) => {
            (ch.version.0, ch.ciphers.iter().map(|c| c.0).collect())
        }
        other => panic!("not a ClientHello: {other:?}"),
    }
}

const ALERT_HANDSHAKE_FAILURE: [u8; 7] = [21, 3, 1, 0, 2, 2, 40];

/// A legacy server that only speaks `version` with `cipher`: it answers any hello offering the
/// cipher with that version (servers negotiate down), and refuses others with alert 40.
async fn replay_server(version: u16, cipher: u16, hello: Option<&'static [u8]>) -> LabServer {
    raw_server(move |rec| {
        let (client_version, suites) = client_hello_of(rec);
        if client_version >= version && suites.contains(&cipher) {
            hello
                .map(<[u8]>::to_vec)
                .unwrap_or_else(|| server_hello(version, cipher))
        } else {
            ALERT_HANDSHAKE_FAILURE.to_vec()
        }
    })
    .await
}

// ---------------------------------------------------------------- modern servers

#[tokio::test]
async fn clean_private_ca_server_yields_clean_facts_fast() {
    let pki = pki();
    let server = tls_server(pki.leaf(&["clean.test"], -1, 90).unwrap()).await;
    let addr = server.addr;
    let cfg = config(trust(&pki), pki.now);
    let started = Instant::now();
    let r = probe_tls(addr, Some("clean.test"), None, &cfg).await;
    let took = started.elapsed();
    let t = &r.tls;
    assert_eq!(t.versions, ["tls1.2", "tls1.3"], "{t:?}");
    assert_eq!(
        (t.sslv3, t.tls1_0, t.tls1_1, t.tls1_2, t.tls1_3),
        (
            Some(false),
            Some(false),
            Some(false),
            Some(true),
            Some(true)
        )
    );
    assert_eq!(t.negotiated_version.as_deref(), Some("tls1.3"));
    assert!(
        t.cipher.as_deref().unwrap().starts_with("TLS_"),
        "{:?}",
        t.cipher
    );
    assert!(t.weak_ciphers.is_empty());
    assert_eq!(
        [
            t.weak_null,
            t.weak_export,
            t.weak_anon,
            t.weak_rc4,
            t.weak_des,
            t.weak_3des
        ],
        [Some(false); 6]
    );
    assert_eq!(t.forward_secrecy, Some(true));
    assert_eq!(t.trusted, Some(true));
    assert_eq!(t.trust_error, None);
    assert_eq!(t.chain_complete, Some(true));
    assert_eq!(t.webpki_error, None);
    assert!(t.hostname_checked);
    assert_eq!(t.hostname_matches, Some(true));
    assert_eq!(t.handshake_error, None);
    assert_eq!(t.handshake_signature_error, None);
    assert_eq!(t.sni.as_deref(), Some("clean.test"));
    assert_eq!(t.chain_source.as_deref(), Some("rustls"));
    assert_eq!(t.ocsp_stapled, Some(false));
    assert!(t.probe_errors.is_empty(), "{:?}", t.probe_errors);
    let cert = r.cert.as_ref().unwrap();
    assert_eq!(cert.days_left, 90);
    assert_eq!((cert.key_type.as_str(), cert.key_bits), ("ec", 256));
    assert!(!cert.self_signed && !cert.expired && !cert.weak_signature);
    assert_eq!(r.chain.len(), 2);
    assert_eq!(r.chain[1].position, 1);
    assert!(r.chain[1].is_ca);
    assert_eq!(r.chain_earliest.as_ref().unwrap().position, 0);
    assert!(r.speaks_tls());
    assert_eq!(builtin_rules::fired(&r), Vec::<String>::new());
    // A healthy server never makes a probe wait for a timeout.
    assert!(took < Duration::from_millis(700), "took {took:?}");
}

#[tokio::test]
async fn certificate_validity_cases() {
    let pki = pki();
    let cfg = config(trust(&pki), pki.now);
    // (name, from, to) in days relative to now.
    for (case, from, to) in [
        ("expired", -100, -10),
        ("expiring", -80, 10),
        ("future", 5, 100),
    ] {
        let server = tls_server(pki.leaf(&["v.test"], from, to).unwrap()).await;
        let addr = server.addr;
        let r = probe_tls(addr, Some("v.test"), None, &cfg).await;
        let c = r.cert.as_ref().unwrap();
        let rule = match case {
            "expired" => "tls.cert.expired",
            "expiring" => "tls.cert.expiring",
            _ => "tls.cert.not-yet-valid",
        };
        assert_eq!(builtin_rules::fired(&r), [rule], "{case}");
        // Expiry never makes a chain untrusted (issue 3 §5).
        assert_eq!(r.tls.trusted, Some(true), "{case}: {:?}", r.tls.trust_error);
        match case {
            "expired" => {
                assert!(c.expired && c.days_left == -10, "{c:?}");
                assert_eq!(r.tls.webpki_error.as_deref(), Some("certificate expired"));
            }
            "expiring" => assert!(!c.expired && c.days_left == 10, "{c:?}"),
            _ => {
                assert!(c.not_yet_valid && !c.expired, "{c:?}");
                assert_eq!(
                    r.tls.webpki_error.as_deref(),
                    Some("certificate not yet valid")
                );
            }
        }
    }
}

#[tokio::test]
async fn self_signed_leaf() {
    let pki = pki();
    let server = tls_server(pki.self_signed(&["self.test"], -1, 300).unwrap()).await;
    let no_extra_trust = config(TrustStore::default(), pki.now);
    let r = probe_tls(server.addr, Some("self.test"), None, &no_extra_trust).await;
    assert!(r.cert.as_ref().unwrap().self_signed);
    assert_eq!(r.tls.trusted, Some(false));
    assert_eq!(r.tls.trust_error.as_deref(), Some("self-signed"));
    assert_eq!(r.tls.chain_complete, Some(true));
    assert_eq!(r.tls.hostname_matches, Some(true));
    assert_eq!(builtin_rules::fired(&r), ["tls.cert.self-signed"]);
}

#[tokio::test]
async fn chain_shapes() {
    let pki = pki();
    let mut leaf = pki.leaf(&["c.test"], -1, 60).unwrap();
    // Intermediate missing: incomplete, untrusted for that reason.
    let leaf_only = LabCert {
        chain: leaf.chain[..1].to_vec(),
        key: leaf.key.clone_key(),
    };
    let server = tls_server(leaf_only).await;
    let cfg = config(trust(&pki), pki.now);
    let r = probe_tls(server.addr, Some("c.test"), None, &cfg).await;
    assert_eq!(r.tls.chain_complete, Some(false));
    assert_eq!(r.tls.trusted, Some(false));
    assert_eq!(r.tls.trust_error.as_deref(), Some("incomplete chain"));
    assert_eq!(builtin_rules::fired(&r), ["tls.cert.incomplete-chain"]);
    // Full chain with the root, root not trusted by anyone: untrusted root, complete.
    leaf.chain.push(pki.root.der.clone());
    let server = tls_server(leaf).await;
    let no_extra_trust = config(TrustStore::default(), pki.now);
    let r = probe_tls(server.addr, Some("c.test"), None, &no_extra_trust).await;
    assert_eq!(r.tls.chain_complete, Some(true));
    assert_eq!(r.tls.trusted, Some(false));
    assert_eq!(r.tls.trust_error.as_deref(), Some("untrusted root"));
    assert_eq!(builtin_rules::fired(&r), ["tls.cert.untrusted"]);
    assert_eq!(r.chain.len(), 3);
    assert!(r.chain[2].self_signed && !r.chain[2].weak_signature);
    // A complete path followed by a stray certificate (another CA's leaf, as misassembled
    // bundles send): still complete; only the path up from the leaf matters.
    let mut with_stray = pki.leaf(&["c.test"], -1, 60).unwrap();
    let other = pki.self_signed(&["other.test"], -1, 60).unwrap();
    let stray = pki.leaf(&["x.test"], -1, 60).unwrap();
    with_stray.chain.push(stray.chain[0].clone());
    let server = tls_server(with_stray).await;
    let r = probe_tls(server.addr, Some("c.test"), None, &cfg).await;
    assert_eq!(r.tls.chain_complete, Some(true), "{:?}", r.tls);
    assert_eq!(r.tls.chain_missing_issuer, None);
    assert_eq!(r.tls.trusted, Some(true));
    assert_eq!(builtin_rules::fired(&r), Vec::<String>::new());
    // The leaf alone plus an unrelated self-signed certificate: the gap is the leaf's issuer.
    let mut gap = pki.leaf(&["c.test"], -1, 60).unwrap();
    let issuer = r.chain[0].issuer.clone();
    gap.chain.truncate(1);
    gap.chain.push(other.chain[0].clone());
    let server = tls_server(gap).await;
    let r = probe_tls(server.addr, Some("c.test"), None, &cfg).await;
    assert_eq!(r.tls.chain_complete, Some(false));
    assert_eq!(r.tls.chain_missing_issuer.as_deref(), Some(issuer.as_str()));
}

#[tokio::test]
async fn wrong_san_and_ip_targets() {
    let pki = pki();
    let server = tls_server(pki.leaf(&["other.test"], -1, 60).unwrap()).await;
    let addr = server.addr;
    let cfg = config(trust(&pki), pki.now);
    let r = probe_tls(addr, Some("wanted.test"), None, &cfg).await;
    assert_eq!(r.tls.hostname_matches, Some(false));
    assert_eq!(r.tls.trusted, Some(true));
    assert_eq!(builtin_rules::fired(&r), ["tls.cert.hostname-mismatch"]);
    // An IP target: no SNI, no hostname check (the SNI argument is ignored when it is an IP).
    let r = probe_tls(addr, Some("127.0.0.1"), None, &cfg).await;
    assert_eq!(r.tls.sni, None);
    assert!(!r.tls.hostname_checked);
    assert_eq!(r.tls.hostname_matches, None);
    assert_eq!(builtin_rules::fired(&r), Vec::<String>::new());
}

#[tokio::test]
async fn rsa_2048_leaf() {
    let dir = tempfile::tempdir().unwrap();
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.pem",
        ],
    );
    let pem = std::fs::read_to_string(dir.path().join("rsa.pem")).unwrap();
    let pki = pki();
    let key = KeyPair::from_pem(&pem).unwrap();
    let server = tls_server(pki.leaf_with_key(&["rsa.test"], &key, -1, 60).unwrap()).await;
    let cfg = config(trust(&pki), pki.now);
    let r = probe_tls(server.addr, Some("rsa.test"), None, &cfg).await;
    let c = r.cert.as_ref().unwrap();
    assert_eq!((c.key_type.as_str(), c.key_bits), ("rsa", 2048));
    assert_eq!(r.tls.trusted, Some(true));
    assert_eq!(r.tls.tls1_2, Some(true));
}

// ---------------------------------------------------------------- openssl s_server

#[tokio::test]
async fn openssl_tls10_and_tls11_only_servers() {
    let dir = tempfile::tempdir().unwrap();
    openssl_self_signed(dir.path(), "legacy.test");
    let now = now();
    for (flag, version) in [("-tls1", "tls1.0"), ("-tls1_1", "tls1.1")] {
        let server = s_server_self_signed(dir.path(), &[flag, "-cipher", "DEFAULT:@SECLEVEL=0"]);
        let r = probe_tls(
            server.addr,
            Some("legacy.test"),
            None,
            &config(TrustStore::default(), now),
        )
        .await;
        let t = &r.tls;
        assert_eq!(t.versions, [version], "{t:?}");
        assert_eq!(t.tls1_2, Some(false));
        assert_eq!(t.tls1_3, Some(false));
        assert_eq!(t.negotiated_version.as_deref(), Some(version));
        assert!(t.handshake_error.is_some(), "rustls cannot talk to it");
        // The chain comes from the plaintext Certificate message.
        assert_eq!(t.chain_source.as_deref(), Some("raw"));
        let c = r.cert.as_ref().expect("legacy chain");
        assert!(c.self_signed);
        assert_eq!(c.sans, ["legacy.test"]);
        assert_eq!(t.trust_error.as_deref(), Some("self-signed"));
        assert_eq!(t.forward_secrecy, Some(true));
        assert_eq!(
            builtin_rules::fired(&r),
            [
                "tls.cert.self-signed",
                "tls.protocol.legacy",
                "tls.protocol.no-tls13"
            ]
        );
    }
}

#[tokio::test]
async fn openssl_null_and_anon_suites() {
    let dir = tempfile::tempdir().unwrap();
    openssl_self_signed(dir.path(), "weak.test");
    // ALL includes the anonymous suites; eNULL must be added (DEFAULT removes it for good).
    let server = s_server_self_signed(dir.path(), &["-cipher", "ALL:eNULL:@SECLEVEL=0"]);
    let r = probe_tls(
        server.addr,
        Some("weak.test"),
        None,
        &config(TrustStore::default(), now()),
    )
    .await;
    let t = &r.tls;
    assert!(t.weak_ciphers.contains(&"null".to_string()), "{t:?}");
    assert!(t.weak_ciphers.contains(&"anon".to_string()), "{t:?}");
    assert_eq!((t.weak_null, t.weak_anon), (Some(true), Some(true)));
    assert_eq!(
        (t.weak_rc4, t.weak_export, t.weak_des),
        (Some(false), Some(false), Some(false))
    );
    // The modern client still gets a normal handshake and the chain.
    assert_eq!(t.handshake_error, None);
    assert_eq!(t.chain_source.as_deref(), Some("rustls"));
    assert!(builtin_rules::fired(&r).contains(&"tls.cipher.weak".to_string()));
}

#[tokio::test]
async fn openssl_rsa1024_sha1_chain_is_trusted_but_weak() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl_ca_and_leaf(d, "old.test", 1024, "sha1", 20);
    let server = s_server_ca_and_leaf(d, &["-cipher", "DEFAULT:@SECLEVEL=0"]);
    let ca_pem = std::fs::read(d.join("ca.pem")).unwrap();
    let trust = TrustStore::with_extra_pem(&ca_pem).unwrap();
    let r = probe_tls(server.addr, Some("old.test"), None, &config(trust, now())).await;
    let t = &r.tls;
    // rustls completes: the handshake signature is recorded, not enforced.
    assert_eq!(t.handshake_error, None, "{t:?}");
    let c = r.cert.as_ref().unwrap();
    assert_eq!((c.key_type.as_str(), c.key_bits), ("rsa", 1024));
    assert_eq!(c.signature_algorithm, "sha1WithRSAEncryption");
    assert!(c.weak_signature);
    // openssl's -days 20 counts from its own clock, a moment before our `now`.
    assert!((19..=20).contains(&c.days_left), "{}", c.days_left);
    // Weak key and weak hash do not make the chain untrusted.
    assert_eq!(t.trusted, Some(true), "{:?}", t.trust_error);
    assert_eq!(t.chain_complete, Some(true));
    assert!(
        t.webpki_error.is_some(),
        "a standard client refuses RSA-1024/SHA-1"
    );
    // The self-signed CA's own SHA-256 signature is not weak anyway; the chain has 2 certs.
    assert_eq!(r.chain.len(), 2);
    assert!(!r.chain[1].weak_signature);
    // Also: 20 days left is inside the 30-day window, and SECLEVEL=0 re-enables TLS 1.0/1.1.
    assert_eq!(
        builtin_rules::fired(&r),
        [
            "tls.cert.expiring",
            "tls.cert.weak-key",
            "tls.cert.weak-signature",
            "tls.protocol.legacy"
        ]
    );
}

// ---------------------------------------------------------------- replay responders

#[tokio::test]
async fn replayed_sslv3_rc4_server() {
    let server = replay_server(0x0300, 0x0004, Some(SH_SSL3_RC4)).await;
    let addr = server.addr;
    let r = probe_tls(addr, None, None, &config(TrustStore::default(), now())).await;
    let t = &r.tls;
    assert_eq!(t.versions, ["sslv3"], "{t:?}");
    assert_eq!(t.sslv3, Some(true));
    assert_eq!(
        (t.tls1_0, t.tls1_1, t.tls1_2),
        (Some(false), Some(false), Some(false))
    );
    assert_eq!(t.weak_rc4, Some(true));
    assert!(t.weak_ciphers.contains(&"rc4".to_string()));
    assert_eq!(t.negotiated_version.as_deref(), Some("sslv3"));
    assert_eq!(t.cipher.as_deref(), Some("TLS_RSA_WITH_RC4_128_MD5"));
    assert!(t.handshake_error.is_some());
    assert_eq!(t.forward_secrecy, Some(false));
    assert!(r.cert.is_none());
    assert_eq!(
        builtin_rules::fired(&r),
        [
            "tls.protocol.legacy",
            "tls.cipher.weak",
            "tls.cipher.no-forward-secrecy",
            "tls.protocol.no-tls13"
        ]
    );
}

#[tokio::test]
async fn replayed_export_and_des_servers() {
    let cfg = config(TrustStore::default(), now());
    // TLS_RSA_EXPORT_WITH_DES40_CBC_SHA: export and DES at once.
    let server = replay_server(0x0301, 0x0008, None).await;
    let addr = server.addr;
    let r = probe_tls(addr, None, None, &cfg).await;
    assert_eq!(r.tls.weak_ciphers, ["export", "des"], "{:?}", r.tls);
    assert_eq!(r.tls.tls1_0, Some(true));
    // TLS_RSA_WITH_DES_CBC_SHA.
    let server = replay_server(0x0301, 0x0009, None).await;
    let addr = server.addr;
    let r = probe_tls(addr, None, None, &cfg).await;
    assert_eq!(r.tls.weak_ciphers, ["des"]);
    assert_eq!(
        (r.tls.weak_des, r.tls.weak_export),
        (Some(true), Some(false))
    );
    // TLS_RSA_WITH_3DES_EDE_CBC_SHA over TLS 1.2.
    let server = replay_server(0x0303, 0x000a, None).await;
    let addr = server.addr;
    let r = probe_tls(addr, None, None, &cfg).await;
    assert_eq!(r.tls.weak_ciphers, ["3des"]);
    assert_eq!(r.tls.versions, ["tls1.2"]);
}

// ---------------------------------------------------------------- hostile servers

fn hostile_config() -> TlsProbeConfig {
    TlsProbeConfig {
        timeout: Duration::from_millis(200),
        probe_deadline: Duration::from_millis(400),
        ..config(TrustStore::default(), now())
    }
}

#[tokio::test]
async fn silent_server_is_a_recorded_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let started = Instant::now();
    let r = probe_tls(addr, Some("silent.test"), None, &hostile_config()).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        r.tls
            .handshake_error
            .as_deref()
            .unwrap()
            .contains("timeout"),
        "{:?}",
        r.tls
    );
    assert!(!r.speaks_tls());
    assert!(r.tls.versions.is_empty());
    assert_eq!(r.tls.tls1_3, None);
    assert_eq!(r.tls.trusted, None);
    // Silence after a ClientHello is not a TLS server: no raw probe follows the handshake.
    assert!(r.tls.probe_errors.is_empty(), "{:?}", r.tls.probe_errors);
}

#[tokio::test]
async fn garbage_server_is_a_recorded_error() {
    let server =
        raw_server(|_| b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec()).await;
    let addr = server.addr;
    let started = Instant::now();
    let r = probe_tls(addr, None, None, &hostile_config()).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(r.tls.handshake_error.is_some());
    assert!(!r.speaks_tls());
    assert!(
        r.tls.probe_errors.iter().any(|e| e.contains("HTTP")),
        "{:?}",
        r.tls.probe_errors
    );
    // Random bytes too.
    let server = raw_server(|_| (0..300u32).map(|i| (i * 7919 % 251) as u8).collect()).await;
    let r = probe_tls(server.addr, None, None, &hostile_config()).await;
    assert!(r.tls.handshake_error.is_some());
    assert!(r.tls.versions.is_empty());
}

#[tokio::test]
async fn oversized_chain_is_a_recorded_refusal() {
    // A TLS 1.2 ServerHello, then a Certificate message of 100 KiB in 16 KiB records.
    let server = raw_server(|_| oversized_chain_flight()).await;
    let started = Instant::now();
    let r = probe_tls(server.addr, Some("big.test"), None, &hostile_config()).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let err = r.tls.handshake_error.as_deref().expect("rustls refuses it");
    assert!(err.contains("TooLarge"), "{err}");
    assert!(r.cert.is_none());
    assert_eq!(r.tls.tls1_2, Some(true));
}

#[tokio::test]
async fn speaks_tls_detection() {
    let pki = pki();
    let mut leaf_only = pki.leaf(&["d.test"], -1, 60).unwrap();
    leaf_only.chain.truncate(1);
    let tls = tls_server(leaf_only).await;
    let cfg = hostile_config();
    assert!(speaks_tls(tls.addr, None, &cfg).await);
    let http = raw_server(|_| b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()).await;
    assert!(!speaks_tls(http.addr, None, &cfg).await);
}

#[test]
fn recorded_flights_parse_like_live_ones() {
    // The replay responder's synthetic ServerHello is what the parser expects.
    let r = parse_server_flight(&server_hello(0x0301, 0x0009), false, false, 10).unwrap();
    assert!(matches!(
        r,
        Some(hello::ServerReply::Hello {
            hello: hello::ServerHelloInfo {
                version: Version::Tls10,
                cipher: 0x0009,
                ..
            },
            ..
        })
    ));
}

/// Fifty endpoints probed at once (the benchmark's shape): every probe completes with the same
/// facts, well within a second on loopback, and no probe waits for a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_endpoints_in_parallel() {
    let pki = pki();
    let cfg = config(trust(&pki), pki.now);
    let mut servers = Vec::new();
    for i in 0..50 {
        let leaf = pki.leaf(&[&format!("h{i}.test")], -1, 60).unwrap();
        servers.push(tls_server(leaf).await);
    }
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (i, server) in servers.iter().enumerate() {
        let (a, cfg) = (server.addr, cfg.clone());
        set.spawn(async move { probe_tls(a, Some(&format!("h{i}.test")), None, &cfg).await });
    }
    let mut n = 0;
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.tls.versions, ["tls1.2", "tls1.3"]);
        assert_eq!(
            (r.tls.trusted, r.tls.hostname_matches),
            (Some(true), Some(true))
        );
        assert!(r.tls.probe_errors.is_empty(), "{:?}", r.tls.probe_errors);
        n += 1;
    }
    assert_eq!(n, 50);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn smtp_starttls_endpoint() {
    let pki = pki();
    let server = serve_smtp_starttls(pki.leaf(&["mail.test"], -1, 60).unwrap(), true)
        .await
        .unwrap();
    let r = probe_tls(
        server.addr,
        Some("mail.test"),
        Some(StartTls::Smtp),
        &config(trust(&pki), pki.now),
    )
    .await;
    let t = &r.tls;
    assert_eq!(t.starttls.as_deref(), Some("smtp"));
    assert_eq!(t.versions, ["tls1.2", "tls1.3"], "{t:?}");
    assert_eq!(
        (t.sslv3, t.tls1_0, t.tls1_1),
        (Some(false), Some(false), Some(false))
    );
    assert_eq!(t.trusted, Some(true));
    assert_eq!(t.alpn, None);
    assert!(t.probe_errors.is_empty(), "{:?}", t.probe_errors);
    assert_eq!(r.cert.unwrap().sans, ["mail.test"]);
}

// ---------------------------------------------------------------- rules/tls.toml over these facts

/// Until the rule engine is merged: every built-in TLS rule compiles as CEL, reads only facts
/// the probe produces (evaluation on the full sample never errors), is false on clean facts and
/// true on at least one broken variant; every message placeholder evaluates on the sample.
mod builtin_rules {
    use crate::fact::tls::{sample, TlsSubject};

    const RULES: &str = include_str!("../../../rules/tls.toml");

    fn rules() -> Vec<toml::Table> {
        let doc: toml::Table = toml::from_str(RULES).unwrap();
        doc["rule"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_table().unwrap().clone())
            .collect()
    }

    fn eval(
        expr: &str,
        s: &TlsSubject,
        params: Option<&toml::Value>,
    ) -> Result<cel::Value, String> {
        let program = cel::Program::compile(expr).map_err(|e| format!("{expr}: {e}"))?;
        let mut ctx = cel::Context::default();
        let json = serde_json::to_value(s).unwrap();
        for (k, v) in json.as_object().unwrap() {
            ctx.add_variable(k.as_str(), v.clone()).unwrap();
        }
        let params = params
            .cloned()
            .unwrap_or(toml::Value::Table(toml::Table::new()));
        ctx.add_variable("params", params).unwrap();
        program.execute(&ctx).map_err(|e| format!("{expr}: {e}"))
    }

    /// The ids of the built-in rules that match a live probe result.
    pub(super) fn fired(r: &super::TlsProbeResult) -> Vec<String> {
        let target = crate::fact::TargetFacts {
            host: "x.test".into(),
            ..Default::default()
        };
        let s = r.clone().into_subject("x.test:443".into(), target);
        rules()
            .iter()
            .filter(|rule| matches(rule, &s))
            .map(|rule| rule["id"].as_str().unwrap().to_string())
            .collect()
    }

    fn matches(rule: &toml::Table, s: &TlsSubject) -> bool {
        match eval(rule["when"].as_str().unwrap(), s, rule.get("params")) {
            Ok(cel::Value::Bool(b)) => b,
            Ok(other) => panic!("{}: not a bool: {other:?}", rule["id"]),
            // An absent fact means "no match" (ARCHITECTURE §4).
            Err(_) => false,
        }
    }

    fn clean() -> TlsSubject {
        let mut s = sample();
        let t = &mut s.tls;
        t.versions = vec!["tls1.2".into(), "tls1.3".into()];
        t.tls1_0 = Some(false);
        t.weak_ciphers.clear();
        t.weak_3des = Some(false);
        t.trust_error = None;
        t.webpki_error = None;
        t.handshake_error = None;
        t.handshake_signature_error = None;
        s.chain[0].days_left = 80;
        s.chain[1].days_left = 400;
        s.cert = Some(s.chain[0].clone());
        s.chain_earliest = Some(s.chain[0].clone());
        s
    }

    fn broken() -> Vec<TlsSubject> {
        let mut a = clean();
        {
            let c = &mut a.chain[0];
            c.expired = true;
            c.days_left = -3;
            c.self_signed = true;
            c.key_bits = 1024;
            c.weak_signature = true;
        }
        a.chain[1].days_left = 12;
        a.cert = Some(a.chain[0].clone());
        a.tls.trusted = Some(false);
        a.tls.hostname_matches = Some(false);
        a.tls.versions = vec!["sslv3".into(), "tls1.2".into()];
        a.tls.weak_ciphers = vec!["rc4".into()];
        a.tls.forward_secrecy = Some(false);
        a.tls.tls1_3 = Some(false);

        let mut b = clean();
        b.chain[0].days_left = 5;
        b.cert = Some(b.chain[0].clone());
        b.tls.trusted = Some(false);
        b.tls.trust_error = Some("untrusted root".into());

        let mut c = clean();
        c.chain[0].not_yet_valid = true;
        c.cert = Some(c.chain[0].clone());
        c.tls.trusted = Some(false);
        c.tls.chain_complete = Some(false);
        c.chain[0].key_type = "ec".into();
        c.chain[0].key_bits = 192;
        c.cert = Some(c.chain[0].clone());
        // An intermediate that has already expired.
        c.chain[1].expired = true;
        c.chain[1].days_left = -2;
        vec![a, b, c]
    }

    #[test]
    fn ids_are_the_issue_list() {
        let ids: Vec<String> = rules()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            ids,
            [
                "tls.cert.expired",
                "tls.cert.expiring",
                "tls.cert.not-yet-valid",
                "tls.cert.self-signed",
                "tls.cert.untrusted",
                "tls.cert.incomplete-chain",
                "tls.cert.hostname-mismatch",
                "tls.cert.weak-key",
                "tls.cert.weak-signature",
                "tls.chain.expired",
                "tls.chain.expiring",
                "tls.protocol.legacy",
                "tls.cipher.weak",
                "tls.cipher.no-forward-secrecy",
                "tls.protocol.no-tls13",
            ]
        );
    }

    #[test]
    fn conditions_evaluate_on_the_sample_and_separate_clean_from_broken() {
        let sample = sample();
        let clean = clean();
        let broken = broken();
        for rule in rules() {
            let id = rule["id"].as_str().unwrap();
            let when = rule["when"].as_str().unwrap();
            let v = eval(when, &sample, rule.get("params")).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(matches!(v, cel::Value::Bool(_)), "{id}: {v:?}");
            assert!(!matches(&rule, &clean), "{id} fires on clean facts");
            assert!(
                broken.iter().any(|b| matches(&rule, b)),
                "{id} fires on no broken case"
            );
        }
    }

    #[test]
    fn absent_facts_do_not_match() {
        let mut s = clean();
        s.tls.tls1_3 = None;
        s.tls.forward_secrecy = None;
        s.tls.trusted = None;
        s.tls.chain_complete = None;
        s.tls.hostname_matches = None;
        s.cert = None;
        s.chain.clear();
        s.chain_earliest = None;
        for rule in rules() {
            assert!(!matches(&rule, &s), "{}", rule["id"]);
        }
    }

    #[test]
    fn message_placeholders_evaluate_on_the_sample() {
        let s = sample();
        for rule in rules() {
            for field in ["message", "remediation"] {
                let Some(text) = rule.get(field).and_then(|v| v.as_str()) else {
                    continue;
                };
                let mut rest = text;
                while let Some(start) = rest.find("{{") {
                    let end = rest[start..].find("}}").expect("closed placeholder") + start;
                    let expr = rest[start + 2..end].trim();
                    eval(expr, &s, rule.get("params"))
                        .unwrap_or_else(|e| panic!("{}: {field}: {e}", rule["id"]));
                    rest = &rest[end + 2..];
                }
            }
        }
    }
}

/// A port that hangs up on every connection costs the modern handshake and one TLS 1.0 hello,
/// no more, and says so.
#[tokio::test]
async fn a_port_that_closes_every_hello_costs_two_connections() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(s);
        }
    });
    let r = probe_tls(addr, None, None, &hostile_config()).await;
    assert!(!r.speaks_tls());
    assert!(r.closed_silently, "{:?}", r.tls);
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// A legacy-only stack that hangs up on a modern ClientHello (no alert) but answers a TLS 1.0
/// hello is found: the raw probes run after the TLS 1.0 check answered.
#[tokio::test]
async fn a_server_intolerant_of_modern_hellos_is_still_assessed() {
    let server = raw_server(|hello| {
        // client_version follows the record (5) and handshake (4) headers.
        let client_version = u16::from_be_bytes([hello[9], hello[10]]);
        if client_version >= 0x0303 {
            Vec::new()
        } else {
            server_hello(0x0301, 0x002f)
        }
    })
    .await;
    let r = probe_tls(server.addr, None, None, &hostile_config()).await;
    assert!(r.speaks_tls(), "{:?}", r.tls);
    assert!(!r.closed_silently);
    assert_eq!(r.tls.tls1_0, Some(true), "{:?}", r.tls);
    assert!(r.tls.versions.iter().any(|v| v == "tls1.0"), "{:?}", r.tls);
}

/// The sweep's connection is used for the modern handshake when handed over.
#[tokio::test]
async fn the_modern_handshake_runs_on_a_handed_over_connection() {
    let pki = pki();
    let server = tls_server(pki.leaf(&["handed.test"], -1, 90).unwrap()).await;
    let addr = server.addr;
    let std_stream = std::net::TcpStream::connect(addr).unwrap();
    let cfg = config(trust(&pki), pki.now);
    let r = probe_tls_on(addr, Some(std_stream), Some("handed.test"), None, &cfg).await;
    assert!(r.speaks_tls(), "{:?}", r.tls);
    assert!(r.tls.handshake_error.is_none(), "{:?}", r.tls);
}
