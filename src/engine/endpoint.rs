//! Everything done to one open port: banner and service, then TLS and HTTP where they apply,
//! each subject judged by the rules as soon as its facts are complete.

use super::plan::ScanPlan;
use crate::fact::{HttpSubject, PortFacts, PortState, PortSubject, SubjectFacts, TargetFacts};
use crate::finding::{Finding, Subject};
use crate::outcome::IncompleteEndpoint;
use crate::probe::banner::probe_banner;
use crate::probe::http::{probe_http, HttpProbeConfig};
use crate::probe::service::{guess_service, printable_banner};
use crate::target::{Endpoint, Scheme};
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;

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

/// Everything done to one open port, bounded by the endpoint deadline.
pub async fn assess_endpoint(plan: &ScanPlan, ep: Endpoint, cancel: &AtomicBool) -> Assessed {
    let deadline = plan.limits.endpoint_timeout();
    match tokio::time::timeout(deadline, assess_endpoint_inner(plan, &ep, cancel)).await {
        Ok(r) => r,
        Err(_) => Assessed {
            subjects: Vec::new(),
            findings: Vec::new(),
            incomplete: vec![IncompleteEndpoint {
                endpoint: display_with_ip(&ep),
                stage: "deadline".into(),
                reason: format!(
                    "the endpoint was not fully assessed within {} ms",
                    plan.limits.endpoint_timeout_ms
                ),
            }],
        },
    }
}

async fn assess_endpoint_inner(plan: &ScanPlan, ep: &Endpoint, _cancel: &AtomicBool) -> Assessed {
    let spec = &plan.targets[ep.target];
    let addr = SocketAddr::new(ep.ip, ep.port);
    let mut incomplete = Vec::new();
    let target = TargetFacts {
        host: ep.host.to_string(),
        ip: Some(ep.ip.to_string()),
        port: Some(ep.port),
        tags: spec.meta.tags.clone(),
        owner: spec.meta.owner.clone(),
    };

    let banner = probe_banner(addr, ep.port, &plan.limits).await;
    if let Some(e) = &banner.error {
        if banner.bytes.is_empty() && banner.connect_failed() {
            incomplete.push(IncompleteEndpoint {
                endpoint: display_with_ip(ep),
                stage: "banner".into(),
                reason: e.clone(),
            });
        }
    }
    let (service, source) = match ep.scheme {
        Some(s) => (s.service().to_string(), "scheme"),
        None => {
            let (s, src) = guess_service(ep.port, &banner.bytes);
            (s, src)
        }
    };
    let port = PortFacts {
        number: ep.port,
        state: PortState::Open,
        open: true,
        service,
        service_source: source.to_string(),
        banner: printable_banner(&banner.bytes),
    };
    let is_http_service = port.service == "http";
    let facts = SubjectFacts::Port(PortSubject {
        endpoint: ep.display(),
        target: target.clone(),
        port,
    });
    let mut findings = Vec::new();
    if plan.checks.ports {
        let location = plan.location_for(spec, Subject::Port, &ep.host, &ep.port.to_string());
        findings.extend(crate::rule::evaluate(&plan.rules, &facts, &location));
    }
    let mut subjects = vec![facts];

    // HTTP: URL targets say so; otherwise the banner (or the answer to our nudge) was HTTP.
    let http_tls = match ep.scheme {
        Some(Scheme::Http) => Some(false),
        Some(Scheme::Https) => Some(true),
        Some(_) => None,
        None if is_http_service => Some(false),
        None => None,
    };
    if let (true, Some(tls)) = (plan.checks.http, http_tls) {
        let cfg = HttpProbeConfig::from_limits(&plan.limits);
        let http = probe_http(addr, &ep.host, tls, &cfg).await;
        if http.status == 0 {
            incomplete.push(IncompleteEndpoint {
                endpoint: display_with_ip(ep),
                stage: "http".into(),
                reason: http
                    .error
                    .clone()
                    .unwrap_or_else(|| "no HTTP response".into()),
            });
        }
        let facts = SubjectFacts::Http(Box::new(HttpSubject {
            endpoint: ep.display(),
            target: target.clone(),
            http,
        }));
        let location = plan.location_for(spec, Subject::Http, &ep.host, &ep.port.to_string());
        findings.extend(crate::rule::evaluate(&plan.rules, &facts, &location));
        subjects.push(facts);
    }
    Assessed {
        subjects,
        findings,
        incomplete,
    }
}
