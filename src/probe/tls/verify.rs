//! Trust decisions about a presented chain: `trusted` (and why not), `chain_complete`,
//! `hostname_matches`, and what a standard WebPKI client would say now. Pure: chain bytes, a
//! trust store and `now` in, facts out.
//!
//! # How `trusted` is decided (issue 3 §5)
//!
//! "Does the chain, as built from the presented certificates, lead to a trust anchor?" must not
//! also answer "is it expired / weak / for another name" — those are separate facts and rules,
//! otherwise every expired, weak-key or mismatched host would also read as untrusted.
//!
//! 1. rustls-webpki builds the path (`EndEntityCert::verify_for_usage`, serverAuth EKU if the
//!    leaf has EKUs) with the name check off, at a time inside the leaf's validity: the
//!    midpoint of the intersection of the validity of the leaf and every presented
//!    intermediate (not self-signed certificates), or the leaf's own midpoint when that
//!    intersection is empty.
//! 2. The signature algorithms offered to webpki are ring's, plus RSA PKCS#1 with keys from
//!    1024 bits and SHA-1 ([`CHAIN_ALGS`]): RSA-1024 and SHA-1 chains are then built with real
//!    signature checks, and weak keys or hashes do not make them untrusted.
//! 3. If webpki still fails on a signature (MD5, ECDSA-SHA1, DSA, RSA-PSS parameters, RSA keys
//!    under 1024 bits), we walk the chain ourselves: from the leaf, follow issuer name →
//!    presented subject name (with a signature check where ring can do it, and consistent
//!    key identifiers), until a certificate whose issuer is a trust anchor's subject. Reaching
//!    an anchor that way counts as trusted. This accepts a forged signature in an algorithm
//!    ring cannot check; posture reports configuration, it does not authenticate peers.
//! 4. When webpki fails for a validity reason at that time, an intermediate was never valid
//!    during the leaf's life: untrusted, "expired intermediate" (or "intermediate not yet
//!    valid"). Other failures map to a reason: "self-signed" (the leaf is self-signed and not
//!    itself in the trust store), "incomplete chain" (see `chain_complete`), "untrusted root"
//!    (the chain ends in a presented self-signed root that is not an anchor), "unknown issuer".

use super::cert::{parse_cert, ParsedCert};
use crate::fact::tls::CertFacts;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::SignatureScheme;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, ServerName,
    SignatureVerificationAlgorithm, TrustAnchor, UnixTime,
};
use std::net::IpAddr;
use std::time::Duration;
use thiserror::Error;
use time::OffsetDateTime;
use webpki::{EndEntityCert, KeyUsage};

#[derive(Debug, Error)]
pub enum VerifyError {
    #[error("CA file: {0}")]
    Pem(String),
    #[error("CA file contains no certificate")]
    NoCertificates,
    #[error("CA certificate #{index} is not usable as a trust anchor: {reason}")]
    Anchor { index: usize, reason: String },
}

/// Trust anchors: Mozilla's (webpki-roots, deterministic across machines) plus `--ca-file`.
#[derive(Debug, Clone)]
pub struct TrustStore {
    anchors: Vec<TrustAnchor<'static>>,
}

impl Default for TrustStore {
    fn default() -> Self {
        TrustStore {
            anchors: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }
    }
}

impl TrustStore {
    /// Mozilla's roots plus `extra` (internal CAs).
    pub fn with_extra(extra: &[CertificateDer<'_>]) -> Result<Self, VerifyError> {
        let mut store = TrustStore::default();
        for (index, der) in extra.iter().enumerate() {
            let anchor =
                webpki::anchor_from_trusted_cert(der).map_err(|e| VerifyError::Anchor {
                    index,
                    reason: e.to_string(),
                })?;
            store.anchors.push(anchor.to_owned());
        }
        Ok(store)
    }

    /// Mozilla's roots plus every certificate of a PEM file (`--ca-file`).
    pub fn with_extra_pem(pem: &[u8]) -> Result<Self, VerifyError> {
        TrustStore::with_extra(&load_pem_certs(pem)?)
    }

    pub fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }

    /// A trust anchor has this subject (DER contents of a Name).
    fn has_subject(&self, name: &[u8]) -> bool {
        self.anchors.iter().any(|a| a.subject.as_ref() == name)
    }

    /// The certificate itself is an anchor (same subject and key).
    fn contains(&self, c: &ParsedCert) -> bool {
        let der = CertificateDer::from(c.der.as_slice());
        let Ok(anchor) = webpki::anchor_from_trusted_cert(&der) else {
            return false;
        };
        self.anchors.iter().any(|a| {
            a.subject.as_ref() == anchor.subject.as_ref()
                && a.subject_public_key_info.as_ref() == anchor.subject_public_key_info.as_ref()
        })
    }
}

/// Every certificate of a PEM document.
pub fn load_pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, VerifyError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| VerifyError::Pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(VerifyError::NoCertificates);
    }
    Ok(certs)
}

/// RSA PKCS#1 verification accepting keys from 1024 bits (ring's "legacy use" algorithms),
/// so chain building and handshake-signature checks judge who signed, not how strongly.
struct LegacyRsa {
    signature_alg_id: AlgorithmIdentifier,
    alg: &'static dyn ring::signature::VerificationAlgorithm,
    name: &'static str,
}

impl std::fmt::Debug for LegacyRsa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl SignatureVerificationAlgorithm for LegacyRsa {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        ring::signature::UnparsedPublicKey::new(self.alg, public_key)
            .verify(message, signature)
            .map_err(|_| InvalidSignature)
    }
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        rustls_pki_types::alg_id::RSA_ENCRYPTION
    }
    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg_id
    }
}

/// sha1WithRSAEncryption (1.2.840.113549.1.1.5) with NULL parameters, as DER contents.
const ALG_RSA_PKCS1_SHA1: AlgorithmIdentifier = AlgorithmIdentifier::from_slice(&[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
]);

static RSA_SHA1: LegacyRsa = LegacyRsa {
    signature_alg_id: ALG_RSA_PKCS1_SHA1,
    alg: &ring::signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
    name: "RSA_PKCS1_1024_8192_SHA1",
};
static RSA_SHA256: LegacyRsa = LegacyRsa {
    signature_alg_id: rustls_pki_types::alg_id::RSA_PKCS1_SHA256,
    alg: &ring::signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
    name: "RSA_PKCS1_1024_8192_SHA256",
};
static RSA_SHA384: LegacyRsa = LegacyRsa {
    signature_alg_id: rustls_pki_types::alg_id::RSA_PKCS1_SHA384,
    // ring has no 1024-bit SHA-384 variant; nobody pairs SHA-384 with a 1024-bit key.
    alg: &ring::signature::RSA_PKCS1_2048_8192_SHA384,
    name: "RSA_PKCS1_2048_8192_SHA384",
};
static RSA_SHA512: LegacyRsa = LegacyRsa {
    signature_alg_id: rustls_pki_types::alg_id::RSA_PKCS1_SHA512,
    alg: &ring::signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
    name: "RSA_PKCS1_1024_8192_SHA512",
};

/// The signature algorithms chain building accepts (see the module docs, step 2).
pub static CHAIN_ALGS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
    webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
    &RSA_SHA1,
    &RSA_SHA256,
    &RSA_SHA384,
    &RSA_SHA512,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
];

/// Handshake-signature algorithms for the recording verifier: rustls/ring's, plus RSA PKCS#1
/// with 1024-bit keys and SHA-1, so a legacy server's signature is checked rather than
/// reported as failed merely for its key size.
pub static HANDSHAKE_ALGS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: CHAIN_ALGS,
    mapping: &[
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[
                webpki::ring::ECDSA_P384_SHA384,
                webpki::ring::ECDSA_P256_SHA384,
            ],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[
                webpki::ring::ECDSA_P256_SHA256,
                webpki::ring::ECDSA_P384_SHA256,
            ],
        ),
        (SignatureScheme::ED25519, &[webpki::ring::ED25519]),
        (
            SignatureScheme::RSA_PSS_SHA512,
            &[webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA384,
            &[webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA256,
            &[webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
        ),
        (SignatureScheme::RSA_PKCS1_SHA512, &[&RSA_SHA512]),
        (SignatureScheme::RSA_PKCS1_SHA384, &[&RSA_SHA384]),
        (SignatureScheme::RSA_PKCS1_SHA256, &[&RSA_SHA256]),
        (SignatureScheme::RSA_PKCS1_SHA1, &[&RSA_SHA1]),
    ],
};

/// The trust facts of one presented chain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChainAssessment {
    /// Facts of each certificate that parsed, in presented order.
    pub certs: Vec<CertFacts>,
    pub trusted: Option<bool>,
    pub trust_error: Option<String>,
    pub chain_complete: Option<bool>,
    /// The issuer DN the path up from the leaf lacks (when `chain_complete` is false).
    pub chain_missing_issuer: Option<String>,
    pub webpki_error: Option<String>,
    pub hostname_checked: bool,
    pub hostname_matches: Option<bool>,
    /// Certificates that did not parse (position: reason).
    pub parse_errors: Vec<String>,
}

/// Assess a presented chain (leaf first). `hostname` is the name the user gave (`None` for IP
/// and CIDR targets: no name check then).
pub fn assess_chain(
    ders: &[Vec<u8>],
    hostname: Option<&str>,
    store: &TrustStore,
    now: OffsetDateTime,
) -> ChainAssessment {
    let mut out = ChainAssessment {
        hostname_checked: hostname.is_some() && !ders.is_empty(),
        ..Default::default()
    };
    if ders.is_empty() {
        return out;
    }
    let mut parsed: Vec<ParsedCert> = Vec::with_capacity(ders.len());
    for (i, der) in ders.iter().enumerate() {
        match parse_cert(der, i as u32, now) {
            Ok(c) => parsed.push(c),
            Err(e) => out.parse_errors.push(format!("certificate #{i}: {e}")),
        }
    }
    out.certs = parsed.iter().map(|c| c.facts.clone()).collect();
    let Some(leaf) = parsed.first().filter(|c| c.facts.position == 0) else {
        out.trusted = Some(false);
        out.trust_error = Some("leaf certificate does not parse".into());
        return out;
    };
    if let Some(name) = hostname {
        out.hostname_matches = Some(hostname_matches(name, &leaf.dns_sans, &leaf.ip_sans));
    }
    let gap = chain_gap(&parsed, store);
    let complete = gap.is_none();
    out.chain_complete = Some(complete);
    out.chain_missing_issuer = gap.map(|i| parsed[i].facts.issuer.clone());

    let leaf_der = CertificateDer::from(ders[0].as_slice());
    let intermediates: Vec<CertificateDer<'_>> = ders[1..]
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    let Ok(ee) = EndEntityCert::try_from(&leaf_der) else {
        out.trusted = Some(false);
        out.trust_error = Some("leaf certificate rejected by WebPKI parser".into());
        return out;
    };

    let at = unix_time(decision_time(&parsed));
    let verdict = ee.verify_for_usage(
        CHAIN_ALGS,
        store.anchors(),
        &intermediates,
        at,
        KeyUsage::server_auth(),
        None,
        None,
    );
    let (trusted, reason) = match verdict {
        Ok(_) => (true, None),
        Err(e) if is_signature_error(&e) => {
            if walk_to_anchor(&parsed, store) {
                (true, None)
            } else {
                (false, Some(untrusted_reason(&parsed, store, complete)))
            }
        }
        Err(webpki::Error::CertExpired { .. }) => (false, Some("expired intermediate".into())),
        Err(webpki::Error::CertNotValidYet { .. }) => {
            (false, Some("intermediate not yet valid".into()))
        }
        Err(webpki::Error::UnknownIssuer) | Err(webpki::Error::CaUsedAsEndEntity) => {
            (false, Some(untrusted_reason(&parsed, store, complete)))
        }
        Err(e) => (false, Some(describe(&e))),
    };
    out.trusted = Some(trusted);
    out.trust_error = reason;

    // The standard client's verdict: now, ring's default algorithms, with the name.
    let standard = ee
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            store.anchors(),
            &intermediates,
            unix_time(now),
            KeyUsage::server_auth(),
            None,
            None,
        )
        .map(|_| ())
        .and_then(|()| match hostname.map(server_name) {
            Some(Some(name)) => ee.verify_is_valid_for_subject_name(&name),
            _ => Ok(()),
        });
    out.webpki_error = standard.err().map(|e| describe(&e));
    out
}

fn server_name(host: &str) -> Option<ServerName<'static>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).ok()
}

fn unix_time(t: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(t.unix_timestamp().max(0) as u64))
}

/// The time chain building runs at (module docs, step 1).
fn decision_time(parsed: &[ParsedCert]) -> OffsetDateTime {
    let leaf = &parsed[0];
    let mut start = leaf.not_before;
    let mut end = leaf.not_after;
    for c in parsed.iter().skip(1).filter(|c| !c.facts.self_signed) {
        start = start.max(c.not_before);
        end = end.min(c.not_after);
    }
    let (start, end) = if start <= end {
        (start, end)
    } else {
        (leaf.not_before, leaf.not_after)
    };
    let mid = start + (end - start) / 2;
    OffsetDateTime::from_unix_timestamp(mid).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn is_signature_error(e: &webpki::Error) -> bool {
    matches!(
        e,
        webpki::Error::InvalidSignatureForPublicKey
            | webpki::Error::SignatureAlgorithmMismatch
            | webpki::Error::UnsupportedSignatureAlgorithmContext(_)
            | webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
    ) || format!("{e:?}").starts_with("UnsupportedSignatureAlgorithm")
}

/// Why a chain that did not lead to an anchor failed, in the words of `tls.trust_error`.
fn untrusted_reason(parsed: &[ParsedCert], store: &TrustStore, complete: bool) -> String {
    let leaf = &parsed[0];
    if leaf.facts.self_signed && !store.contains(leaf) {
        return "self-signed".into();
    }
    if !complete {
        return "incomplete chain".into();
    }
    let last = &parsed[parsed.len() - 1];
    if last.facts.self_signed && !store.contains(last) {
        return "untrusted root".into();
    }
    "unknown issuer".into()
}

/// `chain_complete` (issue 3 §5): walking up from the leaf through the presented
/// certificates (each step to an unvisited one whose subject is the current issuer, key
/// identifiers consistent), the path reaches a self-issued certificate or one whose issuer is
/// a trust anchor. A server sending leaf + intermediate without the root is complete; so is
/// one that adds a cross-signed root or a stray certificate after a complete path (only the
/// path matters, not what was sent last).
pub fn chain_complete(parsed: &[ParsedCert], store: &TrustStore) -> bool {
    chain_gap(parsed, store).is_none() && !parsed.is_empty()
}

/// Where the path up from the leaf stops short: the certificate whose issuer is neither
/// presented nor a trust anchor (its index), or `None` when the path is complete.
pub fn chain_gap(parsed: &[ParsedCert], store: &TrustStore) -> Option<usize> {
    if parsed.is_empty() {
        return None;
    }
    let mut current = 0usize;
    let mut visited = vec![false; parsed.len()];
    for _ in 0..parsed.len() {
        visited[current] = true;
        let cur = &parsed[current];
        if cur.self_issued() || store.has_subject(&cur.issuer_raw) {
            return None;
        }
        let next = parsed.iter().enumerate().position(|(j, cand)| {
            !visited[j] && cand.subject_raw == cur.issuer_raw && key_ids_consistent(cur, cand)
        });
        match next {
            Some(j) => current = j,
            None => return Some(current),
        }
    }
    Some(current)
}

/// Our own path walk for chains webpki cannot verify (module docs, step 3).
fn walk_to_anchor(parsed: &[ParsedCert], store: &TrustStore) -> bool {
    let mut current = 0usize;
    let mut visited = vec![false; parsed.len()];
    for _ in 0..parsed.len() {
        visited[current] = true;
        let cur = &parsed[current];
        if store.contains(cur) || store.has_subject(&cur.issuer_raw) {
            return true;
        }
        if cur.self_issued() {
            return false;
        }
        let next = parsed.iter().enumerate().find(|(j, cand)| {
            !visited[*j]
                && cand.subject_raw == cur.issuer_raw
                && key_ids_consistent(cur, cand)
                && signature_link(cur, cand) != Some(false)
        });
        match next {
            Some((j, _)) => current = j,
            None => return false,
        }
    }
    false
}

/// A child's signature checked with a candidate issuer's key; `None` when ring cannot check
/// it (including RSA keys under 1024 bits, which ring refuses to load at all).
fn signature_link(child: &ParsedCert, issuer: &ParsedCert) -> Option<bool> {
    if issuer.facts.key_type == "rsa" && issuer.facts.key_bits < 1024 {
        return None;
    }
    child.signed_by(issuer)
}

fn key_ids_consistent(child: &ParsedCert, issuer: &ParsedCert) -> bool {
    match (&child.authority_key_id, &issuer.subject_key_id) {
        (Some(aki), Some(ski)) => aki == ski,
        _ => true,
    }
}

/// A WebPKI error in words for `trust_error` / `webpki_error`.
fn describe(e: &webpki::Error) -> String {
    use webpki::Error as E;
    match e {
        E::CertExpired { .. } => "certificate expired".into(),
        E::CertNotValidYet { .. } => "certificate not yet valid".into(),
        E::UnknownIssuer => "unknown issuer".into(),
        E::CertNotValidForName(_) => "certificate not valid for the hostname".into(),
        E::CaUsedAsEndEntity => "CA certificate used as end entity".into(),
        E::EndEntityUsedAsCa => "end-entity certificate used as CA".into(),
        E::InvalidSignatureForPublicKey => "invalid signature".into(),
        E::RequiredEkuNotFoundContext(_) => {
            "certificate not valid for server authentication (extended key usage)".into()
        }
        E::NameConstraintViolation => "name constraints violated".into(),
        E::PathLenConstraintViolated => "path length constraint violated".into(),
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "unsupported signature algorithm".into()
        }
        E::BadDer | E::BadDerTime => "malformed certificate".into(),
        other => {
            // Debug names such as `MaximumPathDepthExceeded`: readable and stable enough.
            let s = format!("{other:?}");
            s.split('(').next().unwrap_or(&s).to_string()
        }
    }
}

/// Host name check against a leaf (RFC 9525 §6, which obsoletes RFC 6125): DNS-ID in
/// subjectAltName, wildcard only as the complete left-most label (matching exactly one label,
/// never a public suffix like `*.com`); IP targets match iPAddress SANs only. The subject CN is
/// never used: RFC 9525 §6.3 drops RFC 6125's CN fallback, the CA/Browser Forum requires the
/// SAN, and Chrome (58+) and Firefox (48+) reject a CN-only certificate for every name.
/// Case-insensitive, trailing dots ignored.
pub fn hostname_matches(host: &str, dns_sans: &[String], ip_sans: &[IpAddr]) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return ip_sans.contains(&ip);
    }
    let host = normalise(host);
    if host.is_empty() {
        return false;
    }
    dns_sans.iter().any(|p| dns_id_matches(p, &host))
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn dns_id_matches(pattern: &str, host: &str) -> bool {
    let pattern = normalise(pattern);
    if let Some(rest) = pattern.strip_prefix("*.") {
        if rest.contains('*') || !rest.contains('.') || rest.starts_with('.') {
            return false;
        }
        return match host.split_once('.') {
            Some((first, tail)) => !first.is_empty() && tail == rest,
            None => false,
        };
    }
    !pattern.contains('*') && pattern == host
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::tls_lab::LabPki;
    use crate::probe::tls::cert::der_contents;

    /// The lab's private PKI made now, its root the one extra anchor (like `--ca-file`).
    struct Pki {
        lab: LabPki,
        store: TrustStore,
    }

    impl Pki {
        fn new() -> Pki {
            Pki::with(LabPki::new(OffsetDateTime::now_utc()).unwrap())
        }

        fn with(lab: LabPki) -> Pki {
            let store = TrustStore::with_extra(std::slice::from_ref(&lab.root.der)).unwrap();
            Pki { lab, store }
        }

        fn now(&self) -> OffsetDateTime {
            self.lab.now
        }

        fn root(&self) -> Vec<u8> {
            self.lab.root.der.to_vec()
        }

        /// DER of a leaf for `names`, valid from now + `from_days` to now + `to_days`, then
        /// of the intermediate that issued it.
        fn chain(&self, names: &[&str], from_days: i64, to_days: i64) -> Vec<Vec<u8>> {
            let cert = self.lab.leaf(names, from_days, to_days).unwrap();
            cert.chain.iter().map(|c| c.to_vec()).collect()
        }

        /// `assess_chain` with this PKI's store at its `now`.
        fn assess(&self, chain: &[Vec<u8>], name: Option<&str>) -> ChainAssessment {
            assess_chain(chain, name, &self.store, self.now())
        }
    }

    #[test]
    fn leaf_plus_intermediate_without_root_is_trusted_complete_and_clean() {
        let p = Pki::new();
        let a = p.assess(&p.chain(&["a.test"], -1, 90), Some("a.test"));
        assert_eq!(a.trusted, Some(true), "{a:?}");
        assert_eq!(a.trust_error, None);
        assert_eq!(a.chain_complete, Some(true));
        assert_eq!(a.hostname_matches, Some(true));
        assert_eq!(a.webpki_error, None);
        assert_eq!(a.certs.len(), 2);
    }

    #[test]
    fn with_the_root_too_is_still_trusted() {
        let p = Pki::new();
        let mut chain = p.chain(&["a.test"], -1, 90);
        chain.push(p.root());
        let a = p.assess(&chain, Some("a.test"));
        assert_eq!((a.trusted, a.chain_complete), (Some(true), Some(true)));
        assert!(a.certs[2].self_signed);
    }

    #[test]
    fn expired_leaf_is_still_trusted_but_webpki_says_expired() {
        let p = Pki::new();
        let a = p.assess(&p.chain(&["a.test"], -100, -10), Some("a.test"));
        assert_eq!(a.trusted, Some(true));
        assert_eq!(a.webpki_error.as_deref(), Some("certificate expired"));
        assert!(a.certs[0].expired);
    }

    #[test]
    fn missing_intermediate_is_incomplete_and_untrusted() {
        let p = Pki::new();
        let chain = p.chain(&["a.test"], -1, 90);
        let a = p.assess(&chain[..1], Some("a.test"));
        assert_eq!(a.chain_complete, Some(false));
        assert_eq!(a.trusted, Some(false));
        assert_eq!(a.trust_error.as_deref(), Some("incomplete chain"));
    }

    #[test]
    fn unknown_private_ca_with_its_root_presented_is_untrusted_root() {
        let p = Pki::new();
        let mut chain = p.chain(&["a.test"], -1, 90);
        chain.push(p.root());
        let a = assess_chain(&chain, Some("a.test"), &TrustStore::default(), p.now());
        assert_eq!(a.trusted, Some(false));
        assert_eq!(a.chain_complete, Some(true));
        assert_eq!(a.trust_error.as_deref(), Some("untrusted root"));
        assert_eq!(a.webpki_error.as_deref(), Some("unknown issuer"));
    }

    #[test]
    fn self_signed_leaf() {
        let p = Pki::new();
        let der = p.lab.self_signed(&["self.test"], -1, 300).unwrap().chain[0].to_vec();
        let n = p.now();
        let a = assess_chain(
            std::slice::from_ref(&der),
            Some("self.test"),
            &TrustStore::default(),
            n,
        );
        assert_eq!(a.trusted, Some(false));
        assert_eq!(a.trust_error.as_deref(), Some("self-signed"));
        assert_eq!(a.chain_complete, Some(true));
        assert!(a.certs[0].self_signed);
        // Trusting it explicitly (--ca-file) makes it trusted.
        let store = TrustStore::with_extra(&[CertificateDer::from(der.clone())]).unwrap();
        let a = assess_chain(&[der], Some("self.test"), &store, n);
        assert_eq!(a.trusted, Some(true), "{a:?}");
    }

    #[test]
    fn intermediate_expired_before_the_leaf_was_issued() {
        // The intermediate expired 30 days ago; the leaf was issued 10 days ago.
        let lab = LabPki::with_intermediate_days(OffsetDateTime::now_utc(), -30).unwrap();
        let p = Pki::with(lab);
        let a = p.assess(&p.chain(&["a.test"], -10, 80), Some("a.test"));
        assert_eq!(a.trusted, Some(false));
        assert_eq!(a.trust_error.as_deref(), Some("expired intermediate"));
        assert!(a.certs[1].expired);
    }

    #[test]
    fn wrong_name_is_a_mismatch_not_untrusted() {
        let p = Pki::new();
        let chain = p.chain(&["other.test"], -1, 90);
        let a = p.assess(&chain, Some("a.test"));
        assert_eq!(a.trusted, Some(true));
        assert_eq!(a.hostname_matches, Some(false));
        assert!(a.hostname_checked);
        assert_eq!(
            a.webpki_error.as_deref(),
            Some("certificate not valid for the hostname")
        );
        // No name given (IP target): no check.
        let a = p.assess(&chain[..1], None);
        assert!(!a.hostname_checked);
        assert_eq!(a.hostname_matches, None);
    }

    #[test]
    fn unparseable_chain_is_recorded() {
        let now = OffsetDateTime::now_utc();
        let a = assess_chain(&[b"junk".to_vec()], None, &TrustStore::default(), now);
        assert_eq!(a.trusted, Some(false));
        assert_eq!(a.parse_errors.len(), 1);
        assert!(a.certs.is_empty());
        assert_eq!(
            assess_chain(&[], Some("x"), &TrustStore::default(), now),
            ChainAssessment::default()
        );
    }

    #[test]
    fn rfc6125_host_matching() {
        let sans = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let m = |host, s: &[&str]| hostname_matches(host, &sans(s), &[]);
        assert!(m("www.example.com", &["www.example.com"]));
        assert!(m("WWW.Example.COM.", &["www.example.com"]));
        assert!(m("a.example.com", &["*.example.com"]));
        assert!(!m("a.b.example.com", &["*.example.com"]));
        assert!(!m("example.com", &["*.example.com"]));
        assert!(!m("example.com", &["*.com"]));
        assert!(!m("foo.example.com", &["f*.example.com"]));
        assert!(!m("a.example.com", &["a.*.com"]));
        assert!(!m("x.test", &[]));
        // A CN is no name (RFC 9525 §6.3): a certificate without SANs matches nothing.
        assert!(!hostname_matches("cn.test", &[], &[]));
        // IP targets: iPAddress SANs only, never a DNS SAN spelling the address.
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(hostname_matches("192.0.2.1", &[], &[ip]));
        assert!(!hostname_matches("192.0.2.1", &sans(&["192.0.2.1"]), &[]));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(hostname_matches("[2001:db8::1]", &[], &[v6]));
    }

    #[test]
    fn pem_loading() {
        let p = Pki::new();
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64_lines(&p.root())
        );
        assert_eq!(load_pem_certs(pem.as_bytes()).unwrap().len(), 1);
        let store = TrustStore::with_extra_pem(pem.as_bytes()).unwrap();
        assert_eq!(
            store.anchors().len(),
            webpki_roots::TLS_SERVER_ROOTS.len() + 1
        );
        assert!(matches!(
            load_pem_certs(b"nothing here"),
            Err(VerifyError::NoCertificates)
        ));
    }

    fn base64_lines(der: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for chunk in der.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
            for i in 0..4 {
                if i <= chunk.len() {
                    s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    s.push('=');
                }
            }
        }
        s.as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn anchor_subjects_compare_with_parsed_names() {
        let p = Pki::new();
        let root = parse_cert(&p.root(), 0, p.now()).unwrap();
        assert!(p.store.has_subject(&root.subject_raw));
        assert!(p.store.contains(&root));
        assert_eq!(der_contents(&[0x30, 0]), &[] as &[u8]);
    }
}
