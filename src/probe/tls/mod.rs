//! The TLS probe: everything posture observes about one TLS endpoint, as [`TlsFacts`] and
//! certificate facts.
//!
//! * [`handshake`]: a rustls handshake (what a modern client gets; the presented chain).
//! * [`legacy`] + [`hello`]: raw ClientHellos for what rustls will not negotiate (SSLv3,
//!   TLS 1.0/1.1, weak cipher classes, the chain of legacy-only servers).
//! * [`verify`]: trust, completeness and hostname decisions from the chain; [`cert`]: the
//!   per-certificate facts.
//! * [`starttls`]: the plaintext preamble for SMTP, IMAP, POP3 and FTP.
//!
//! [`probe_tls`] runs the modern handshake, then (when the server answered it, or answers a
//! TLS 1.0 hello after closing it silently) the raw probes in parallel (a few connections at a
//! time), then merges their evidence: a version is accepted when any probe saw a
//! ServerHello for it, refused when its own probe got an alert or a refusal, and unknown (the
//! fact is absent) when its probe was inconclusive.

pub mod cert;
pub mod handshake;
pub mod hello;
pub mod legacy;
pub mod starttls;
pub mod verify;

#[cfg(test)]
mod tests;

pub use starttls::StartTls;
pub use verify::TrustStore;

use crate::engine::limits::Limits;
use crate::fact::tls::{CertFacts, TlsFacts, TlsSubject};
use crate::fact::TargetFacts;
use handshake::ModernOutcome;
use hello::{is_forward_secret, suite_classes, suite_name, ServerReply, Version, WeakClass};
use legacy::{RawOutcome, RawTarget, WeakScan};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Semaphore;

/// Raw probes in flight per endpoint (the modern handshake runs besides them). Five would make
/// the first round fully parallel; four keeps us under the per-client connection limits of
/// small mail servers (Postfix `smtpd_client_connection_count_limit` can be as low as 5).
pub const RAW_PROBES_IN_FLIGHT: usize = 4;
/// Inconclusive raw probes kept in `tls.probe_errors`.
pub const MAX_PROBE_ERRORS: usize = 8;

/// How to probe (from [`Limits`], the trust store and the injected `now`).
#[derive(Debug, Clone)]
pub struct TlsProbeConfig {
    /// Connect and per-read timeout.
    pub timeout: Duration,
    /// Total time of one probe connection (handshake or raw exchange).
    pub probe_deadline: Duration,
    /// Certificates of a presented chain kept.
    pub chain_certs: usize,
    pub trust: Arc<TrustStore>,
    /// "Now" for `days_left`, `expired` and the standard WebPKI verdict.
    pub now: OffsetDateTime,
}

impl TlsProbeConfig {
    pub fn new(limits: &Limits, trust: Arc<TrustStore>, now: OffsetDateTime) -> Self {
        TlsProbeConfig {
            timeout: limits.timeout(),
            probe_deadline: limits.probe_deadline(),
            chain_certs: limits.chain_certs,
            trust,
            now,
        }
    }
}

/// The facts of one TLS endpoint, without `endpoint`/`target` (the caller knows those).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsProbeResult {
    pub tls: TlsFacts,
    pub cert: Option<CertFacts>,
    pub chain: Vec<CertFacts>,
    pub chain_earliest: Option<CertFacts>,
    /// STARTTLS was refused by the server (not offered, or the command refused): there is no
    /// TLS on this endpoint, which is a fact about it, not a failure of the scan.
    pub starttls_refused: bool,
    /// Both the modern and a TLS 1.0 ClientHello were answered by closing the connection
    /// without a byte: nothing on this port speaks TLS (or anything else, to us).
    pub closed_silently: bool,
}

impl TlsProbeResult {
    /// The endpoint answered TLS at all (some version accepted or a certificate seen); when
    /// false, the endpoint could not be assessed and `tls.handshake_error` / `probe_errors`
    /// say why.
    pub fn speaks_tls(&self) -> bool {
        !self.tls.versions.is_empty() || !self.chain.is_empty()
    }

    pub fn into_subject(self, endpoint: String, target: TargetFacts) -> TlsSubject {
        TlsSubject {
            endpoint,
            target,
            tls: self.tls,
            cert: self.cert,
            chain: self.chain,
            chain_earliest: self.chain_earliest,
        }
    }
}

/// Probe the TLS endpoint at `addr`. `sni` is the hostname the user gave (an IP literal is
/// ignored: no SNI and no hostname check for IP targets). Never fails: failures are facts.
/// Takes at most about two probe deadlines (one round in parallel, then at most one more for
/// servers the modern handshake could not complete) plus the weak-cipher rounds.
pub async fn probe_tls(
    addr: SocketAddr,
    sni: Option<&str>,
    starttls: Option<StartTls>,
    cfg: &TlsProbeConfig,
) -> TlsProbeResult {
    probe_tls_on(addr, None, sni, starttls, cfg).await
}

/// [`probe_tls`], with the modern handshake on `connected` (an open connection nothing was
/// sent on yet: the port sweep's) when given.
pub async fn probe_tls_on(
    addr: SocketAddr,
    connected: Option<std::net::TcpStream>,
    sni: Option<&str>,
    starttls: Option<StartTls>,
    cfg: &TlsProbeConfig,
) -> TlsProbeResult {
    let sni = sni
        .map(|s| s.trim_end_matches('.'))
        .filter(|s| !s.is_empty() && s.trim_matches(['[', ']']).parse::<IpAddr>().is_err());
    let target = RawTarget {
        addr,
        sni,
        starttls,
        timeout: cfg.timeout,
        deadline: cfg.probe_deadline,
        chain_certs: cfg.chain_certs,
    };
    let permits = Semaphore::new(RAW_PROBES_IN_FLIGHT);
    let version_probe = |v: Version| {
        let (target, permits) = (&target, &permits);
        async move {
            let _permit = permits.acquire().await;
            (v, legacy::probe_version(target, v).await)
        }
    };

    // The modern handshake first, alone: it tells whether anything TLS is there. The raw
    // probes (five more connections) only run against a server that answered it, or that
    // closed it silently but answers a TLS 1.0 hello (legacy-only and version-intolerant
    // stacks refuse a modern hello that way). A port that is not TLS costs two connections.
    let modern = handshake::probe_modern_on(
        addr,
        connected,
        sni,
        starttls,
        cfg.timeout,
        cfg.probe_deadline,
        cfg.chain_certs,
    )
    .await;
    let mut tls10_first = None;
    let go_on = if modern.starttls_refused {
        false
    } else if modern.version.is_some() || matches!(modern.head.first(), Some(20..=24)) {
        // A handshake, or at least a TLS record (an alert, a ServerHello rustls refused).
        true
    } else if !modern.head.is_empty() {
        // Plaintext in answer to a ClientHello (an HTTP 400, an SSH banner): not TLS.
        false
    } else if modern.closed_silently {
        let r = version_probe(Version::Tls10).await;
        let answered = matches!(r.1, RawOutcome::Reply(_));
        tls10_first = Some(r);
        answered
    } else {
        // Silence, a refused connect or a STARTTLS failure: nothing more to learn by TLS.
        false
    };
    if !go_on {
        let closed_silently = modern.closed_silently
            && tls10_first
                .as_ref()
                .is_some_and(|(_, o)| matches!(o, RawOutcome::Refused(_)));
        let raw: Vec<(Version, RawOutcome)> = tls10_first.into_iter().collect();
        let plaintext = (!modern.head.is_empty()).then(|| hello::not_tls(&modern.head).to_string());
        let mut r = merge(modern, &raw, &WeakScan::default(), None, sni, starttls, cfg);
        r.closed_silently = closed_silently;
        if let Some(e) = plaintext {
            r.tls.probe_errors.insert(0, e);
        }
        return r;
    }
    let (ssl3, tls10, tls11, tls12, weak) = tokio::join!(
        version_probe(Version::Ssl3),
        async {
            match tls10_first.take() {
                Some(r) => r,
                None => version_probe(Version::Tls10).await,
            }
        },
        version_probe(Version::Tls11),
        version_probe(Version::Tls12),
        async {
            let _permit = permits.acquire().await;
            legacy::probe_weak_classes(&target).await
        },
    );
    let mut raw = vec![ssl3, tls10, tls11, tls12];

    // Second round, only when the modern handshake failed but the server speaks TLS: TLS 1.3
    // (a 1.3 server whose handshake rustls refused, e.g. an oversized chain) and forward
    // secrecy (rustls only negotiates forward-secret suites, so its success already answers).
    let answered = raw.iter().any(|(_, o)| matches!(o, RawOutcome::Reply(_)));
    let mut fs_probe = None;
    if modern.version.is_none() && answered {
        let (tls13, fs) = tokio::join!(
            version_probe(Version::Tls13),
            legacy::probe_forward_secrecy(&target)
        );
        raw.push(tls13);
        fs_probe = Some(fs);
    }

    merge(modern, &raw, &weak, fs_probe.as_ref(), sni, starttls, cfg)
}

/// Merge the evidence of all probes into facts (pure).
fn merge(
    modern: ModernOutcome,
    raw: &[(Version, RawOutcome)],
    weak: &WeakScan,
    fs_probe: Option<&RawOutcome>,
    sni: Option<&str>,
    starttls: Option<StartTls>,
    cfg: &TlsProbeConfig,
) -> TlsProbeResult {
    let mut accepted: BTreeSet<Version> = BTreeSet::new();
    let mut refused: BTreeSet<Version> = BTreeSet::new();
    let mut suites_seen: Vec<u16> = Vec::new();
    let mut errors: Vec<String> = Vec::new();

    if let (Some(v), Some(c)) = (modern.version, modern.cipher) {
        accepted.insert(v);
        suites_seen.push(c);
        // rustls offered 1.3; a server that supports it must select it (RFC 8446 §4.2.1).
        if v == Version::Tls12 {
            refused.insert(Version::Tls13);
        }
    }
    for (v, outcome) in raw {
        match outcome {
            RawOutcome::Reply(ServerReply::Hello { hello, .. }) => {
                accepted.insert(hello.version);
                suites_seen.push(hello.cipher);
                if hello.version != *v {
                    refused.insert(*v);
                }
            }
            RawOutcome::Reply(ServerReply::Alert { .. }) | RawOutcome::Refused(_) => {
                refused.insert(*v);
            }
            RawOutcome::Failed(e) => errors.push(format!("{}: {e}", v.as_str())),
        }
    }
    for (v, c) in &weak.hellos {
        accepted.insert(*v);
        suites_seen.push(*c);
    }
    if let Some(e) = &weak.error {
        errors.push(format!("weak ciphers: {e}"));
    }

    let mut tls = TlsFacts {
        versions: accepted.iter().map(|v| v.as_str().to_string()).collect(),
        sni: sni.map(str::to_string),
        starttls: starttls.map(|s| s.as_str().to_string()),
        alpn: modern.alpn.clone(),
        ocsp_stapled: modern.ocsp_stapled,
        handshake_error: modern.error.clone(),
        handshake_signature_error: modern.signature_error.clone(),
        ..Default::default()
    };
    let fact = |v: Version| {
        if accepted.contains(&v) {
            Some(true)
        } else if refused.contains(&v) {
            Some(false)
        } else {
            None
        }
    };
    tls.sslv3 = fact(Version::Ssl3);
    tls.tls1_0 = fact(Version::Tls10);
    tls.tls1_1 = fact(Version::Tls11);
    tls.tls1_2 = fact(Version::Tls12);
    tls.tls1_3 = fact(Version::Tls13);

    // Negotiated: the modern client's result, else the highest version a raw probe got.
    let best_raw = raw
        .iter()
        .filter_map(|(v, o)| match o {
            RawOutcome::Reply(ServerReply::Hello { hello, .. }) if hello.version == *v => {
                Some(hello)
            }
            _ => None,
        })
        .max_by_key(|h| h.version);
    match (modern.version, modern.cipher) {
        (Some(v), Some(c)) => {
            tls.negotiated_version = Some(v.as_str().into());
            tls.cipher = Some(suite_name(c));
        }
        _ => {
            if let Some(h) = best_raw {
                tls.negotiated_version = Some(h.version.as_str().into());
                tls.cipher = Some(suite_name(h.cipher));
            }
        }
    }

    // Weak classes: the scan's findings plus any weak suite another probe saw selected.
    let mut weak_accepted: BTreeSet<WeakClass> = weak.accepted.iter().copied().collect();
    for c in &suites_seen {
        weak_accepted.extend(suite_classes(*c));
    }
    tls.weak_ciphers = weak_accepted
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    let class_fact = |c: WeakClass| {
        if weak_accepted.contains(&c) {
            Some(true)
        } else if weak.concluded {
            Some(false)
        } else {
            None
        }
    };
    tls.weak_null = class_fact(WeakClass::Null);
    tls.weak_export = class_fact(WeakClass::Export);
    tls.weak_anon = class_fact(WeakClass::Anon);
    tls.weak_rc4 = class_fact(WeakClass::Rc4);
    tls.weak_des = class_fact(WeakClass::Des);
    tls.weak_3des = class_fact(WeakClass::TripleDes);

    let fs_seen = suites_seen.iter().any(|c| is_forward_secret(*c));
    tls.forward_secrecy = if fs_seen {
        Some(true)
    } else {
        match fs_probe {
            Some(RawOutcome::Reply(ServerReply::Hello { hello, .. })) => {
                Some(is_forward_secret(hello.cipher))
            }
            Some(RawOutcome::Reply(ServerReply::Alert { .. })) | Some(RawOutcome::Refused(_)) => {
                Some(false)
            }
            Some(RawOutcome::Failed(e)) => {
                errors.push(format!("forward secrecy: {e}"));
                None
            }
            None => None,
        }
    };

    // The chain: rustls's when it saw one, else the plaintext Certificate of the highest
    // legacy version that sent one.
    let (ders, source): (Vec<Vec<u8>>, Option<&str>) = if !modern.chain.is_empty() {
        (modern.chain.clone(), Some("rustls"))
    } else {
        raw.iter()
            .filter_map(|(v, o)| match o {
                RawOutcome::Reply(ServerReply::Hello {
                    hello,
                    certificates,
                    ..
                }) if hello.version == *v && !certificates.is_empty() => {
                    Some((hello.version, certificates))
                }
                _ => None,
            })
            .max_by_key(|(v, _)| *v)
            .map(|(_, c)| (c.clone(), Some("raw")))
            .unwrap_or_default()
    };
    tls.chain_source = source.map(str::to_string);

    let assessment = verify::assess_chain(&ders, sni, &cfg.trust, cfg.now);
    tls.trusted = assessment.trusted;
    tls.trust_error = assessment.trust_error;
    tls.chain_complete = assessment.chain_complete;
    tls.chain_missing_issuer = assessment.chain_missing_issuer.clone();
    tls.webpki_error = assessment.webpki_error;
    tls.hostname_checked = assessment.hostname_checked;
    tls.hostname_matches = assessment.hostname_matches;
    errors.extend(assessment.parse_errors);
    errors.truncate(MAX_PROBE_ERRORS);
    tls.probe_errors = errors;

    let chain = assessment.certs;
    TlsProbeResult {
        starttls_refused: modern.starttls_refused,
        closed_silently: false,
        cert: chain.first().filter(|c| c.position == 0).cloned(),
        chain_earliest: cert::earliest(&chain),
        chain,
        tls,
    }
}

/// Whether an open port answers a ClientHello with a ServerHello (or a TLS alert): the test
/// the engine runs on ports that are not TLS by convention. One connection, one deadline.
pub async fn speaks_tls(addr: SocketAddr, sni: Option<&str>, cfg: &TlsProbeConfig) -> bool {
    let target = RawTarget {
        addr,
        sni,
        starttls: None,
        timeout: cfg.timeout,
        deadline: cfg.probe_deadline,
        chain_certs: cfg.chain_certs,
    };
    matches!(legacy::probe_hello(&target).await, RawOutcome::Reply(_))
}
