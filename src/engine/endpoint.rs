//! Everything done to one open port: banner and service, then TLS and HTTP where they apply,
//! each subject judged by the rules as soon as its facts are complete.
//!
//! # Where TLS is probed (issue 3 §1)
//!
//! * **TLS from the first byte, known in advance**: a URL whose scheme is TLS (`https`,
//!   `smtps`, `imaps`, `pop3s`, `ldaps`, `ftps`, `tls`), a port of `--tls-ports`, or a port that
//!   is TLS by convention ([`DIRECT_TLS_PORTS`]). The TLS probe runs first and the banner grab
//!   is skipped when it succeeds: such a service never greets in plaintext, and waiting for a
//!   greeting would cost the banner wait on every endpoint. When a conventional port does not
//!   speak TLS, the banner grab names what is there instead (SSH on 443 is a real thing).
//! * **TLS found on the wire**: any other open port whose banner (or answer to the nudge) is a
//!   TLS record, or that stayed silent and then answers a ClientHello ([`speaks_tls`]: a TLS
//!   server waits for a whole record, so it is silent after a plaintext nudge).
//! * **STARTTLS**: SMTP, IMAP, POP3 and FTP, when the URL scheme says so or the greeting
//!   identifies the protocol. A server that answers but does not offer the upgrade has no TLS
//!   to assess; that is not a scan failure.
//!
//! SNI and the hostname check use the name the user gave; IP and CIDR targets get neither.
//! An endpoint expected to speak TLS that does not (garbage, timeout) or whose certificate could
//! not be read is listed as incomplete (stage `tls`).
//!
//! HTTP runs over TLS when ALPN selected `h2`/`http/1.1`, the scheme is `https`, or the port is
//! an HTTPS port; on other direct-TLS ports of unknown purpose it is tried and kept only when the
//! server answered HTTP. It never runs after STARTTLS (mail and file transfer).

use super::plan::ScanPlan;
use crate::fact::{HttpSubject, PortFacts, PortState, PortSubject, SubjectFacts, TargetFacts};
use crate::finding::{Finding, Subject};
use crate::outcome::IncompleteEndpoint;
use crate::probe::banner::{early_state, probe_banner_from, EarlyState};
use crate::probe::http::{probe_http, HttpProbeConfig};
use crate::probe::service::{
    guess_service, is_tls_service, looks_like_tls, port_service, printable_banner, SOURCE_BANNER,
    SOURCE_PROBE,
};
use crate::probe::tls::{probe_tls_on, speaks_tls, StartTls, TlsProbeConfig, TrustStore};
use crate::target::{Endpoint, Scheme};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use time::OffsetDateTime;

pub use crate::probe::conventions::{DIRECT_TLS_PORTS, HTTPS_PORTS};

/// What assessing one endpoint (or one domain) produced.
pub struct Assessed {
    pub subjects: Vec<SubjectFacts>,
    pub findings: Vec<Finding>,
    pub incomplete: Vec<IncompleteEndpoint>,
}

/// `host:port`, and the address too when the host is a name: `shop.example.com:443 (192.0.2.1)`.
pub fn display_with_ip(ep: &Endpoint) -> String {
    if ep.is_named() {
        format!("{} ({})", ep.display(), ep.ip)
    } else {
        ep.display()
    }
}

/// `work` (an endpoint's assessment) cut off at `deadline`; what was not done by then makes
/// the endpoint incomplete.
pub async fn bounded(
    plan: &ScanPlan,
    ep: &Endpoint,
    deadline: tokio::time::Instant,
    work: impl Future<Output = Assessed>,
) -> Assessed {
    match tokio::time::timeout_at(deadline, work).await {
        Ok(r) => r,
        Err(_) => Assessed {
            subjects: Vec::new(),
            findings: Vec::new(),
            incomplete: vec![IncompleteEndpoint {
                endpoint: display_with_ip(ep),
                stage: "deadline".into(),
                reason: format!(
                    "the endpoint was not fully assessed within {} ms",
                    plan.limits.endpoint_timeout_ms
                ),
            }],
        },
    }
}

// ---------------------------------------------------------------- per-scan TLS context

/// What every TLS probe of a scan shares: the trust store (Mozilla's roots plus `--ca-file`,
/// loaded once) and "now" (taken once, so every certificate of a scan is judged at the same
/// instant and `days_left` cannot differ between two endpoints of one report).
#[derive(Debug, Clone)]
pub struct TlsScanContext {
    pub trust: Arc<TrustStore>,
    /// The `--ca-file` certificates themselves, for the other TLS clients of a scan (the
    /// MTA-STS policy fetch), so the file is read and judged once.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    pub now: OffsetDateTime,
}

impl TlsScanContext {
    /// Loads `--ca-file` (when given) into a trust store. The error names the file.
    pub fn load(ca_file: Option<&std::path::Path>, now: OffsetDateTime) -> Result<Self, String> {
        let extra_roots = match ca_file {
            None => Vec::new(),
            Some(path) => {
                let named = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
                let pem = std::fs::read(path).map_err(|e| named(&e))?;
                crate::probe::tls::verify::load_pem_certs(&pem).map_err(|e| named(&e))?
            }
        };
        let trust = TrustStore::with_extra(&extra_roots).map_err(|e| match ca_file {
            Some(path) => format!("{}: {e}", path.display()),
            None => e.to_string(),
        })?;
        Ok(TlsScanContext {
            trust: Arc::new(trust),
            extra_roots,
            now,
        })
    }

    pub fn probe_config(&self, plan: &ScanPlan) -> TlsProbeConfig {
        TlsProbeConfig::new(&plan.limits, self.trust.clone(), self.now)
    }
}

// ---------------------------------------------------------------- decisions (pure)

/// Why TLS is attempted from the first byte on an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectTls {
    /// The URL scheme or `--tls-ports` says so: not speaking TLS makes the endpoint incomplete.
    Expected,
    /// The port is TLS by convention: when it does not speak TLS, the banner names what it is.
    Conventional,
}

/// Whether TLS is attempted first on `port` of an endpoint with `scheme`.
pub fn direct_tls(scheme: Option<Scheme>, port: u16, tls_ports: &[u16]) -> Option<DirectTls> {
    match scheme {
        Some(
            Scheme::Https
            | Scheme::Smtps
            | Scheme::Imaps
            | Scheme::Pop3s
            | Scheme::Ldaps
            | Scheme::Ftps
            | Scheme::Tls,
        ) => Some(DirectTls::Expected),
        None | Some(Scheme::Tcp) if tls_ports.contains(&port) => Some(DirectTls::Expected),
        None if DIRECT_TLS_PORTS.contains(&port) => Some(DirectTls::Conventional),
        _ => None,
    }
}

/// The STARTTLS protocol of an endpoint: from its URL scheme, else from a greeting that
/// identified the protocol (`source` is `banner`). A port number alone is not enough.
pub fn starttls_for(scheme: Option<Scheme>, service: &str, source: &str) -> Option<StartTls> {
    match scheme {
        Some(Scheme::Smtp) => Some(StartTls::Smtp),
        Some(Scheme::Imap) => Some(StartTls::Imap),
        Some(Scheme::Pop3) => Some(StartTls::Pop3),
        Some(Scheme::Ftp) => Some(StartTls::Ftp),
        None | Some(Scheme::Tcp) if source == SOURCE_BANNER => match service {
            "smtp" => Some(StartTls::Smtp),
            "imap" => Some(StartTls::Imap),
            "pop3" => Some(StartTls::Pop3),
            "ftp" => Some(StartTls::Ftp),
            _ => None,
        },
        _ => None,
    }
}

/// How HTTP is tried over an endpoint's direct TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpsProbe {
    /// The endpoint serves HTTP: a failure makes the endpoint incomplete.
    Expected,
    /// Unknown application protocol: keep the facts only if the server answered HTTP.
    Try,
    Skip,
}

/// Whether HTTP is probed over the direct TLS of an endpoint.
pub fn https_probe(scheme: Option<Scheme>, port: u16, alpn: Option<&str>) -> HttpsProbe {
    match scheme {
        Some(Scheme::Https) => return HttpsProbe::Expected,
        Some(Scheme::Tls | Scheme::Tcp) | None => {}
        Some(_) => return HttpsProbe::Skip,
    }
    if matches!(alpn, Some("h2" | "http/1.1")) || HTTPS_PORTS.contains(&port) {
        return HttpsProbe::Expected;
    }
    match port_service(port) {
        // A mail, directory or file-transfer port speaks its own protocol over TLS.
        Some(s) if is_tls_service(s) && s != "https" => HttpsProbe::Skip,
        _ => HttpsProbe::Try,
    }
}

// ---------------------------------------------------------------- the assessment

/// One endpoint's assessment in progress: facts, findings and failures so far.
struct Work<'a> {
    plan: &'a ScanPlan,
    ep: &'a Endpoint,
    addr: SocketAddr,
    target: TargetFacts,
    out: Assessed,
    /// The last TLS probe saw every ClientHello answered by a silent close.
    tls_closed_silently: bool,
}

impl Work<'_> {
    fn incomplete(&mut self, stage: &str, reason: String) {
        self.out.incomplete.push(IncompleteEndpoint {
            endpoint: display_with_ip(self.ep),
            stage: stage.into(),
            reason,
        });
    }

    /// Judge `facts` with the rules (when `enabled`) and keep them.
    fn judge(&mut self, facts: SubjectFacts, subject: Subject, enabled: bool) {
        if enabled {
            let spec = &self.plan.targets[self.ep.target];
            let (plan, ep) = (self.plan, self.ep);
            let location = || plan.location_for(spec, subject, &ep.host, &ep.port.to_string());
            self.out
                .findings
                .extend(crate::rule::evaluate_with(&plan.rules, &facts, &location));
        }
        self.out.subjects.push(facts);
    }

    /// The name for SNI and the hostname check: the name the user gave, never an address.
    fn sni(&self) -> Option<&str> {
        self.ep.is_named().then_some(&*self.ep.host)
    }

    /// Runs the TLS probe; records the subject when the endpoint speaks TLS. Returns whether
    /// it does, and the negotiated ALPN and modern-handshake success for the HTTP decision.
    /// `connected`: the sweep's connection, nothing sent on it yet, for the modern handshake.
    async fn tls(
        &mut self,
        connected: Option<std::net::TcpStream>,
        starttls: Option<StartTls>,
        expected: bool,
    ) -> Option<TlsOutcome> {
        let cfg = self.plan.tls.probe_config(self.plan);
        // Boxed: the probe futures are large, and an endpoint task is spawned per open port;
        // only the probes that run should cost their memory.
        let r = Box::pin(probe_tls_on(
            self.addr,
            connected,
            self.sni(),
            starttls,
            &cfg,
        ))
        .await;
        self.tls_closed_silently = r.closed_silently;
        if !r.speaks_tls() {
            if r.starttls_refused {
                return None;
            }
            if expected {
                let reason = r
                    .tls
                    .handshake_error
                    .clone()
                    .or_else(|| r.tls.probe_errors.first().cloned())
                    .unwrap_or_else(|| "no TLS answer".into());
                // An alert is TLS spoken: the server refused this handshake (no SNI it
                // knows, a client certificate required), it did not fail to speak TLS.
                let what = if reason.contains("alert") {
                    "TLS expected, but the server refused every handshake"
                } else {
                    "expected TLS, none spoken"
                };
                self.incomplete("tls", format!("{what}: {reason}"));
            }
            return None;
        }
        // TLS answered but no certificate could be read (anonymous-only servers aside, e.g. a
        // certificate message rustls refuses): the certificate checks could not run.
        if r.cert.is_none() && !r.tls.weak_ciphers.iter().any(|c| c == "anon") {
            let reason = r
                .tls
                .handshake_error
                .clone()
                .unwrap_or_else(|| "no certificate received".into());
            self.incomplete(
                "tls",
                format!("TLS spoken but no certificate could be read: {reason}"),
            );
        }
        let outcome = TlsOutcome {
            alpn: r.tls.alpn.clone(),
            handshake_error: r.tls.handshake_error.clone(),
        };
        let facts = SubjectFacts::Tls(Box::new(
            r.into_subject(self.ep.display(), self.target.clone()),
        ));
        self.judge(facts, Subject::Tls, true);
        Some(outcome)
    }

    /// Runs the HTTP probe; records the subject (unless `keep_only_http` and no HTTP answer).
    async fn http(&mut self, tls: bool, expected: bool) {
        let cfg = HttpProbeConfig::from_limits(&self.plan.limits);
        let http = Box::pin(probe_http(self.addr, &self.ep.host, tls, &cfg)).await;
        if http.status == 0 {
            if !expected {
                return;
            }
            let reason = http
                .error
                .clone()
                .unwrap_or_else(|| "no HTTP response".into());
            self.incomplete("http", reason);
        }
        let facts = SubjectFacts::Http(Box::new(HttpSubject {
            endpoint: self.ep.display(),
            target: self.target.clone(),
            http,
        }));
        self.judge(facts, Subject::Http, true);
    }
}

/// What the TLS probe tells the HTTP decision.
struct TlsOutcome {
    alpn: Option<String>,
    /// Why rustls could not complete a handshake; `None` when it did (the HTTP probe uses
    /// rustls too, so HTTP over TLS is reachable only then).
    handshake_error: Option<String>,
}

/// Everything done to one open port, without the endpoint deadline: the caller polls it once
/// and applies [`bounded`] only if it has to wait. Most open ports of a dense scan need no
/// waiting, and a deadline armed for each of them cost a timer-wheel insertion and removal (a
/// lock) per port. `connected` is the port sweep's own connection when it handed it over: the
/// banner is read from it.
pub async fn assess_unbounded(
    plan: &ScanPlan,
    ep: &Endpoint,
    mut connected: Option<std::net::TcpStream>,
) -> Assessed {
    let spec = &plan.targets[ep.target];
    let mut w = Work {
        plan,
        ep,
        addr: SocketAddr::new(ep.ip, ep.port),
        target: TargetFacts {
            host: ep.host.to_string(),
            ip: Some(ep.ip.to_string()),
            port: Some(ep.port),
            tags: spec.meta.tags.clone(),
            owner: spec.meta.owner.clone(),
        },
        out: Assessed {
            subjects: Vec::new(),
            findings: Vec::new(),
            incomplete: Vec::new(),
        },
        tls_closed_silently: false,
    };

    // 1. TLS first where the scheme, --tls-ports or the port's convention says so.
    let planned = if plan.checks.tls {
        direct_tls(ep.scheme, ep.port, &plan.tls_ports)
    } else {
        None
    };
    let conventional_tls_port = planned == Some(DirectTls::Conventional);
    let mut tls_port_facts = None;
    let mut tls_outcome = None;
    // On a port that is TLS only by convention, the sweep's connection already tells whether
    // TLS can be there: a TLS server waits for the ClientHello, so a service that has spoken
    // first (SSH on 443) or has already closed the connection is not one. Its banner is read
    // from that connection instead of spending the TLS probe's connections on it.
    let early = connected.as_ref().map(early_state);
    let direct = planned.filter(|_| {
        !(conventional_tls_port
            && matches!(early, Some(EarlyState::Data | EarlyState::Closed { .. })))
    });
    if let Some(kind) = direct {
        // The modern handshake runs on the sweep's connection when nothing has happened on it
        // yet; one the service already closed is left for a fresh connection.
        let handshake_on = match early {
            Some(EarlyState::Quiet) => connected.take(),
            _ => None,
        };
        drop(connected.take());
        tls_outcome = w.tls(handshake_on, None, kind == DirectTls::Expected).await;
        if tls_outcome.is_some() {
            let (service, source) = match ep.scheme {
                Some(s) if s != Scheme::Tcp => (s.service().to_string(), "scheme"),
                _ => (
                    port_service(ep.port)
                        .filter(|s| is_tls_service(s))
                        .unwrap_or("tls")
                        .to_string(),
                    SOURCE_PROBE,
                ),
            };
            tls_port_facts = Some((service, source.to_string(), String::new()));
        }
    }

    // 2. Otherwise (or when a conventional TLS port did not speak TLS): the banner.
    let mut banner_tls_hint = false;
    let mut banner_silent = false;
    let mut unidentified_answer = false;
    let mut closed_before_request = false;
    let (mut service, mut source, banner_text) = match tls_port_facts {
        Some(f) => f,
        None => {
            // Known closed without a word: by every ClientHello of the TLS probe, or already on
            // the sweep's connection (still ours). Nothing to read, nothing to adopt.
            let known_closed = if direct.is_some() && w.tls_closed_silently {
                Some(EarlyState::Closed { reset: false })
            } else {
                early.filter(|_| connected.is_some())
            };
            let banner = match known_closed.and_then(EarlyState::closed_outcome) {
                Some(closed) => {
                    drop(connected.take());
                    closed
                }
                None => {
                    let on = connected.take();
                    // The scheme names the service, so it picks the question too (an
                    // `ldap://` on a high port gets LDAP's, not `GET /`).
                    let hint = ep.scheme.and_then(Scheme::default_port).unwrap_or(ep.port);
                    Box::pin(probe_banner_from(w.addr, on, hint, &plan.limits)).await
                }
            };
            if let Some(e) = &banner.error {
                if banner.bytes.is_empty() && banner.connect_failed() {
                    w.incomplete("banner", e.clone());
                }
            }
            let (service, source) = match ep.scheme {
                Some(s) if s != Scheme::Tcp => (s.service().to_string(), "scheme"),
                _ => guess_service(ep.port, &banner.bytes),
            };
            banner_tls_hint = looks_like_tls(&banner.bytes);
            closed_before_request = banner.closed_before_request();
            // A service that hung up before we said anything is not a TLS server waiting for
            // its ClientHello: only a silent (or nudged, then silent) one is asked.
            banner_silent =
                banner.bytes.is_empty() && !banner.connect_failed() && !closed_before_request;
            let identified_other =
                matches!(source, SOURCE_BANNER | SOURCE_PROBE) && !banner_tls_hint;
            // It answered our nudge with something that names no service: an implicit-TLS
            // server that answers plaintext to a plaintext request (vsftpd's `500 OOPS: ...
            // http request`) looks like this, so the ClientHello is worth one connection.
            unidentified_answer =
                banner.nudged && !banner.bytes.is_empty() && !identified_other && !banner_tls_hint;
            if conventional_tls_port && !identified_other && !banner.connect_failed() {
                // Expected TLS by convention, and the wire names nothing else: garbage or
                // silence on a TLS port is an endpoint we could not assess.
                let why = if closed_before_request {
                    "the service closed the connection before any TLS exchange"
                } else {
                    "did not complete a TLS exchange"
                };
                w.incomplete(
                    "tls",
                    format!("port {} is TLS by convention but {why}", ep.port),
                );
            }
            (service, source.to_string(), printable_banner(&banner.bytes))
        }
    };
    // 3. TLS found on the wire, looked for before the port is judged: a port found speaking
    //    TLS is named by that (`tls`, or the TLS service conventional on the port), whatever
    //    the first answer suggested. STARTTLS (the service's own upgrade) comes after.
    let mut starttls = None;
    let unscheme = matches!(ep.scheme, None | Some(Scheme::Tcp));
    if plan.checks.tls && direct.is_none() {
        starttls = starttls_for(ep.scheme, &service, &source);
        let ask = starttls.is_none()
            && !banner_tls_hint
            && unscheme
            && (banner_silent || unidentified_answer);
        // "You're speaking plain HTTP to an SSL-enabled server port" (Apache, nginx, Go):
        // the answer itself says the port is HTTPS.
        let plaintext_refused = service == "https" && source == SOURCE_PROBE && unscheme;
        let found = banner_tls_hint
            || plaintext_refused
            || (ask && {
                let cfg = plan.tls.probe_config(plan);
                Box::pin(speaks_tls(w.addr, w.sni(), &cfg)).await
            });
        if starttls.is_none() && found {
            tls_outcome = w.tls(None, None, true).await;
            let named_by_wire = matches!(source.as_str(), SOURCE_BANNER | SOURCE_PROBE);
            if tls_outcome.is_some() && unscheme && (!named_by_wire || banner_tls_hint) {
                service = port_service(ep.port)
                    .filter(|s| is_tls_service(s))
                    .unwrap_or("tls")
                    .to_string();
                source = SOURCE_PROBE.to_string();
            }
        }
    }

    let is_http_service = service == "http";
    let port = PortFacts {
        number: ep.port,
        state: PortState::Open,
        open: true,
        service: service.clone(),
        service_source: source.clone(),
        banner: banner_text,
    };
    let facts = SubjectFacts::Port(PortSubject {
        endpoint: ep.display(),
        target: w.target.clone(),
        port,
    });
    w.judge(facts, Subject::Port, plan.checks.ports);

    // 4. TLS reached with STARTTLS.
    if let Some(proto) = starttls {
        // The scheme asked for it: a server that then fails the exchange is incomplete;
        // a server that refuses the upgrade simply has no TLS.
        w.tls(None, Some(proto), true).await;
    }

    // 5. HTTP: over TLS where the TLS endpoint serves it, plain where the scheme or the
    //    service says HTTP.
    if plan.checks.http {
        if let Some(t) = &tls_outcome {
            let probe = if service == "https" && unscheme {
                // Named HTTPS by its own answer to plaintext HTTP.
                HttpsProbe::Expected
            } else {
                https_probe(ep.scheme, ep.port, t.alpn.as_deref())
            };
            match (starttls, &t.handshake_error, probe) {
                (Some(_), _, _) | (_, _, HttpsProbe::Skip) => {}
                (None, None, HttpsProbe::Expected) => w.http(true, true).await,
                (None, None, HttpsProbe::Try) => w.http(true, false).await,
                (None, Some(e), HttpsProbe::Expected) => {
                    // A site only a legacy client can reach (static RSA only, say) still serves
                    // HTTP to browsers: its HSTS and headers are unknown, not absent.
                    w.incomplete(
                        "http",
                        format!("not probed: no TLS handshake the HTTP client can complete ({e})"),
                    );
                }
                (None, Some(_), HttpsProbe::Try) => {}
            }
        } else if !plan.checks.tls && ep.scheme == Some(Scheme::Https) {
            w.http(true, true).await;
        } else if ep.scheme == Some(Scheme::Http) {
            w.http(false, true).await;
        } else if ep.scheme.is_none() && is_http_service {
            if closed_before_request {
                // An HTTP server waits for the request; this one hung up before it was sent.
                w.incomplete(
                    "http",
                    "the service closed the connection before any request".into(),
                );
            } else {
                w.http(false, true).await;
            }
        }
    }
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_tls_from_scheme_flag_and_convention() {
        assert_eq!(
            direct_tls(Some(Scheme::Https), 8080, &[]),
            Some(DirectTls::Expected)
        );
        assert_eq!(
            direct_tls(Some(Scheme::Tls), 7000, &[]),
            Some(DirectTls::Expected)
        );
        assert_eq!(direct_tls(None, 7000, &[7000]), Some(DirectTls::Expected));
        assert_eq!(direct_tls(None, 443, &[]), Some(DirectTls::Conventional));
        assert_eq!(direct_tls(None, 993, &[]), Some(DirectTls::Conventional));
        // A plain scheme wins over the port's convention and over --tls-ports.
        assert_eq!(direct_tls(Some(Scheme::Http), 443, &[443]), None);
        assert_eq!(direct_tls(Some(Scheme::Smtp), 465, &[]), None);
        assert_eq!(direct_tls(None, 80, &[]), None);
        assert_eq!(direct_tls(None, 25, &[]), None);
    }

    #[test]
    fn starttls_needs_the_scheme_or_a_greeting() {
        assert_eq!(
            starttls_for(Some(Scheme::Smtp), "smtp", "scheme"),
            Some(StartTls::Smtp)
        );
        assert_eq!(
            starttls_for(Some(Scheme::Imap), "imap", "scheme"),
            Some(StartTls::Imap)
        );
        assert_eq!(starttls_for(None, "smtp", "banner"), Some(StartTls::Smtp));
        assert_eq!(starttls_for(None, "pop3", "banner"), Some(StartTls::Pop3));
        assert_eq!(starttls_for(None, "ftp", "banner"), Some(StartTls::Ftp));
        // Port 25 with a silent or unidentified service: the port alone is not enough.
        assert_eq!(starttls_for(None, "smtp", "port"), None);
        assert_eq!(starttls_for(None, "ssh", "banner"), None);
        assert_eq!(starttls_for(Some(Scheme::Http), "smtp", "banner"), None);
    }

    #[test]
    fn https_probe_decision() {
        assert_eq!(
            https_probe(Some(Scheme::Https), 9999, None),
            HttpsProbe::Expected
        );
        assert_eq!(https_probe(None, 443, None), HttpsProbe::Expected);
        assert_eq!(https_probe(None, 7000, Some("h2")), HttpsProbe::Expected);
        assert_eq!(https_probe(None, 7000, None), HttpsProbe::Try);
        assert_eq!(https_probe(None, 993, None), HttpsProbe::Skip);
        assert_eq!(https_probe(None, 636, None), HttpsProbe::Skip);
        assert_eq!(
            https_probe(Some(Scheme::Imaps), 993, None),
            HttpsProbe::Skip
        );
        assert_eq!(
            https_probe(Some(Scheme::Tls), 7000, Some("http/1.1")),
            HttpsProbe::Expected
        );
    }

    #[test]
    fn ca_file_errors_name_the_file() {
        let now = OffsetDateTime::now_utc();
        let e = TlsScanContext::load(Some(std::path::Path::new("/nonexistent/ca.pem")), now)
            .unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("empty.pem");
        std::fs::write(&p, "not a certificate").unwrap();
        let e = TlsScanContext::load(Some(&p), now).unwrap_err();
        assert!(e.contains("no certificate"), "{e}");
        let ctx = TlsScanContext::load(None, now).unwrap();
        assert!(ctx.trust.anchors().len() > 100, "Mozilla's roots");
    }
}
