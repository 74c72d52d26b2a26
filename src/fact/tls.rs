//! Facts of the `tls` subject: one TLS endpoint (a port spoken TLS on directly, or after a
//! STARTTLS upgrade).
//!
//! Rules read `tls.*` (what the server negotiates and accepts, and the trust decisions),
//! `cert.*` (the leaf certificate), `chain` (every presented certificate, in order, leaf first)
//! and `chain_earliest` (the presented certificate that expires first, so a report can say
//! "intermediate #1 expires first" instead of blaming the leaf, the confusion of monitors that
//! only report the earliest expiry).
//!
//! Facts that could not be observed are absent (`None`), never guessed: a rule reading an absent
//! fact does not match. For instance `tls.tls1_3` is absent when the probe for TLS 1.3 timed out,
//! and `tls.trusted` is absent when no certificate was seen at all.
//!
//! Findings that can fire once per endpoint use the leaf certificate's SHA-256 as the item key
//! (see [`TlsSubject::item_key`]): a certificate replaced by a new one is a new finding.

use super::TargetFacts;
use serde::{Deserialize, Serialize};

/// All facts of one `tls` subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsSubject {
    pub endpoint: String,
    pub target: TargetFacts,
    pub tls: TlsFacts,
    /// The leaf certificate (position 0 of `chain`), absent when none was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<CertFacts>,
    /// Every certificate the server presented, in the order presented, leaf first (capped at the
    /// `chain_certs` limit).
    #[serde(default)]
    pub chain: Vec<CertFacts>,
    /// The presented certificate with the earliest `not_after` (its `position` says which).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_earliest: Option<CertFacts>,
}

impl TlsSubject {
    /// The key that tells findings of one rule on one endpoint apart: the leaf's SHA-256, so a
    /// renewed certificate is a new finding and the same certificate keeps its fingerprint.
    pub fn item_key(&self) -> Option<String> {
        self.cert.as_ref().map(|c| c.sha256.clone())
    }
}

/// `tls.*`: the protocol facts of one endpoint and the trust decisions about its chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsFacts {
    /// Protocol versions the server was seen to accept, oldest first, among `sslv3`, `tls1.0`,
    /// `tls1.1`, `tls1.2`, `tls1.3`.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Per-version acceptance; absent when the probe for that version was inconclusive
    /// (timeout, connection error, garbage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslv3: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls1_0: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls1_1: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls1_2: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls1_3: Option<bool>,
    /// The version a modern client (rustls) negotiated; for servers rustls cannot talk to, the
    /// highest version a raw probe saw accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negotiated_version: Option<String>,
    /// IANA name of the negotiated cipher suite (same source as `negotiated_version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher: Option<String>,
    /// The ALPN protocol the server selected (we offer `h2` and `http/1.1` on direct TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    /// Whether the server stapled an OCSP response (absent when the modern handshake failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocsp_stapled: Option<bool>,
    /// Weak cipher classes the server accepted, among `null`, `export`, `anon`, `rc4`, `des`,
    /// `3des`.
    #[serde(default)]
    pub weak_ciphers: Vec<String>,
    /// Per-class acceptance; absent when the cipher probes were inconclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weak_null: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weak_export: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weak_anon: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weak_rc4: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weak_des: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weak_3des: Option<bool>,
    /// Whether the server accepts any forward-secret suite (ECDHE, DHE, or TLS 1.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_secrecy: Option<bool>,
    /// False when the path up from the leaf through the presented certificates stops at one
    /// that is not self-issued and whose issuer is neither presented nor a trust anchor (extra
    /// certificates after a complete path do not count). Absent when no certificate was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_complete: Option<bool>,
    /// The issuer (DN) the path up from the leaf is missing, when `chain_complete` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_missing_issuer: Option<String>,
    /// Whether the presented chain leads to a trust anchor (Mozilla roots + `--ca-file`),
    /// decided at a time inside the leaf's validity with the name check off and independent of
    /// key size and signature algorithm, so expired, weak-key and mismatched hosts do not also
    /// read as untrusted. Absent when no certificate was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted: Option<bool>,
    /// Why `trusted` is false: `self-signed`, `incomplete chain`, `untrusted root`,
    /// `unknown issuer`, `expired intermediate`, `intermediate not yet valid`, ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_error: Option<String>,
    /// What a standard WebPKI client would say right now (expiry and name check included),
    /// absent when it would accept the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webpki_error: Option<String>,
    /// Whether the leaf was checked against a hostname (false for IP and CIDR targets).
    pub hostname_checked: bool,
    /// RFC 6125 match of the hostname against the leaf; absent when not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname_matches: Option<bool>,
    /// Why the modern handshake failed (a fact, e.g. a certificate message over 64 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_error: Option<String>,
    /// Why the server's handshake signature (ServerKeyExchange / CertificateVerify) did not
    /// verify; recorded, never enforced. Absent when it verified or no handshake completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_signature_error: Option<String>,
    /// The SNI we sent (absent for IP targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// The STARTTLS protocol used to reach TLS (`smtp`, `imap`, `pop3`, `ftp`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starttls: Option<String>,
    /// Where the chain came from: `rustls` (modern handshake) or `raw` (the plaintext
    /// Certificate message of a legacy-only server). Absent when no chain was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_source: Option<String>,
    /// Raw probes that were inconclusive and why (timeouts, resets, garbage), capped.
    #[serde(default)]
    pub probe_errors: Vec<String>,
}

/// One certificate (`cert.*`, and each element of `chain`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CertFacts {
    /// 0 for the leaf, 1 for the first intermediate, … in presented order.
    pub position: u32,
    /// RFC 4514 distinguished names.
    pub subject: String,
    pub issuer: String,
    /// Subject alternative names: DNS names and IP addresses (as text).
    #[serde(default)]
    pub sans: Vec<String>,
    /// Serial number, lowercase hex of the DER integer bytes.
    pub serial: String,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    /// floor((not_after − now) / 1 day); negative once expired.
    pub days_left: i64,
    pub not_yet_valid: bool,
    pub expired: bool,
    /// `rsa`, `ec`, `ed25519`, `ed448`, `dsa`, or `unknown`.
    pub key_type: String,
    /// Modulus bits for RSA/DSA, curve size for EC (256, 384, 521), 256 for Ed25519.
    pub key_bits: u32,
    /// Friendly name: `sha256WithRSAEncryption`, `ecdsa-with-SHA256`, `ed25519`, … or the OID.
    pub signature_algorithm: String,
    /// Signed with MD2/MD4/MD5/SHA-1 and not self-signed (a self-signed certificate's own
    /// signature protects nothing: trust in it comes from the trust store).
    pub weak_signature: bool,
    /// Self-issued (subject = issuer) and its signature verifies with its own key (or, for
    /// algorithms we cannot verify, its key identifiers are consistent).
    pub self_signed: bool,
    pub is_ca: bool,
    /// Lowercase hex SHA-256 of the DER encoding (the certificate's identity in reports).
    pub sha256: String,
}

/// A fully populated example (every optional fact present, every list non-empty), from which
/// rule validation derives the schema of the `tls` subject.
pub fn sample() -> TlsSubject {
    let leaf = CertFacts {
        position: 0,
        subject: "CN=shop.example.com".into(),
        issuer: "CN=Example Intermediate CA,O=Example".into(),
        sans: vec!["shop.example.com".into(), "192.0.2.10".into()],
        serial: "03a1b2c3d4".into(),
        not_before: "2026-01-01T00:00:00Z".into(),
        not_after: "2026-04-01T00:00:00Z".into(),
        days_left: 12,
        not_yet_valid: false,
        expired: false,
        key_type: "rsa".into(),
        key_bits: 2048,
        signature_algorithm: "sha256WithRSAEncryption".into(),
        weak_signature: false,
        self_signed: false,
        is_ca: false,
        sha256: "5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592".into(),
    };
    let intermediate = CertFacts {
        position: 1,
        subject: "CN=Example Intermediate CA,O=Example".into(),
        issuer: "CN=Example Root CA,O=Example".into(),
        sans: vec!["ca.example.com".into()],
        serial: "01".into(),
        not_before: "2024-01-01T00:00:00Z".into(),
        not_after: "2026-03-20T00:00:00Z".into(),
        days_left: 0,
        not_yet_valid: false,
        expired: false,
        key_type: "ec".into(),
        key_bits: 384,
        signature_algorithm: "ecdsa-with-SHA384".into(),
        weak_signature: false,
        self_signed: false,
        is_ca: true,
        sha256: "7c211433f02071597741e6ff5a8ea34789abbf43aa7b2d6f2d3a2a6f6a4b3c2d".into(),
    };
    TlsSubject {
        endpoint: "shop.example.com:443".into(),
        target: TargetFacts {
            host: "shop.example.com".into(),
            ip: Some("192.0.2.10".into()),
            port: Some(443),
            tags: vec!["dmz".into()],
            owner: Some("web-team".into()),
        },
        tls: TlsFacts {
            versions: vec!["tls1.0".into(), "tls1.2".into(), "tls1.3".into()],
            sslv3: Some(false),
            tls1_0: Some(true),
            tls1_1: Some(false),
            tls1_2: Some(true),
            tls1_3: Some(true),
            negotiated_version: Some("tls1.3".into()),
            cipher: Some("TLS_AES_128_GCM_SHA256".into()),
            alpn: Some("h2".into()),
            ocsp_stapled: Some(false),
            weak_ciphers: vec!["3des".into()],
            weak_null: Some(false),
            weak_export: Some(false),
            weak_anon: Some(false),
            weak_rc4: Some(false),
            weak_des: Some(false),
            weak_3des: Some(true),
            forward_secrecy: Some(true),
            chain_complete: Some(true),
            chain_missing_issuer: Some("CN=Example Root CA,O=Example".into()),
            trusted: Some(true),
            trust_error: Some("unknown issuer".into()),
            webpki_error: Some("certificate expired".into()),
            hostname_checked: true,
            hostname_matches: Some(true),
            handshake_error: Some("received fatal alert: HandshakeFailure".into()),
            handshake_signature_error: Some("invalid signature".into()),
            sni: Some("shop.example.com".into()),
            starttls: Some("smtp".into()),
            chain_source: Some("rustls".into()),
            probe_errors: vec!["sslv3: timeout after 1500 ms".into()],
        },
        cert: Some(leaf.clone()),
        chain: vec![leaf, intermediate.clone()],
        chain_earliest: Some(intermediate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample must populate every optional fact, or rule validation would reject rules
    /// that read them.
    #[test]
    fn sample_has_every_field_present() {
        fn walk(v: &serde_json::Value, path: &str) {
            match v {
                serde_json::Value::Null => panic!("{path} is null"),
                serde_json::Value::Array(a) => {
                    assert!(!a.is_empty(), "{path} is empty");
                    a.iter().for_each(|x| walk(x, path));
                }
                serde_json::Value::Object(m) => {
                    m.iter().for_each(|(k, x)| walk(x, &format!("{path}.{k}")));
                }
                _ => {}
            }
        }
        let s = serde_json::to_value(sample()).unwrap();
        walk(&s, "");
        let tls = s["tls"].as_object().unwrap();
        let all_tls_fields = serde_json::to_value(TlsFacts::default()).unwrap();
        // Every field that a default omits must be in the sample (i.e. the sample is a superset).
        for k in all_tls_fields.as_object().unwrap().keys() {
            assert!(tls.contains_key(k), "{k}");
        }
        assert_eq!(tls.len(), 31);
    }

    #[test]
    fn round_trips_and_keys_by_leaf() {
        let s = sample();
        let json = serde_json::to_string(&s).unwrap();
        let back: TlsSubject = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert_eq!(s.item_key().as_deref(), Some(s.chain[0].sha256.as_str()));
    }

    #[test]
    fn absent_facts_are_omitted_not_null() {
        let t = serde_json::to_value(TlsFacts::default()).unwrap();
        assert!(t.get("tls1_3").is_none());
        assert!(t.get("trusted").is_none());
        assert_eq!(t["hostname_checked"], false);
    }
}
