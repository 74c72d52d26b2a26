//! The certificate inventory (issue 3 §7): every distinct certificate the scan saw, with the
//! endpoints that presented it and where in their chains, earliest expiry first.
//!
//! It answers "which certificate expires next, and where is it deployed?" without the
//! confusion of monitors that report only the earliest expiry of a chain: an intermediate that
//! expires first is listed as an intermediate, with every endpoint that serves it. Pure: built
//! from the subjects after the scan.

use crate::fact::tls::{CertFacts, TlsSubject};
use crate::fact::SubjectFacts;
use crate::outcome::{CertInventoryEntry, CertPresentation};
use std::collections::HashMap;

/// The role of a certificate at `c.position` of a presented chain.
pub fn role_of(c: &CertFacts) -> &'static str {
    if c.position == 0 {
        "leaf"
    } else if c.self_signed {
        "root"
    } else {
        "intermediate"
    }
}

/// One distinct certificate and every place it was presented.
#[derive(Debug, Clone, PartialEq)]
pub struct Presented<'a> {
    /// The certificate's facts as first seen.
    pub cert: &'a CertFacts,
    /// (endpoint subject, the certificate at its position in that endpoint's chain), in the
    /// order the subjects list them, each (endpoint, position) once.
    pub by: Vec<(&'a TlsSubject, &'a CertFacts)>,
}

/// Every distinct certificate of the TLS subjects (leaf and chain; by SHA-256, else serial), in
/// first-seen order. The one walk behind the JSON inventory and the HTML report's certificate
/// section, which differ only in how they sort and show it.
pub fn distinct_certificates(subjects: &[SubjectFacts]) -> Vec<Presented<'_>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<Presented<'_>> = Vec::new();
    for s in subjects {
        let SubjectFacts::Tls(t) = s else { continue };
        for c in t.cert.iter().chain(t.chain.iter()) {
            let key = if c.sha256.is_empty() {
                c.serial.as_str()
            } else {
                c.sha256.as_str()
            };
            let i = *index.entry(key).or_insert_with(|| {
                out.push(Presented {
                    cert: c,
                    by: Vec::new(),
                });
                out.len() - 1
            });
            let seen = out[i]
                .by
                .iter()
                .any(|(u, p)| u.endpoint == t.endpoint && p.position == c.position);
            if !seen {
                out[i].by.push((t, c));
            }
        }
    }
    out
}

/// Every distinct certificate of the TLS subjects, sorted by expiry (earliest first; ties by
/// `not_after`, subject, then SHA-256), each with its roles and presenting endpoints sorted.
pub fn build_inventory(subjects: &[SubjectFacts]) -> Vec<CertInventoryEntry> {
    let mut out: Vec<CertInventoryEntry> = distinct_certificates(subjects)
        .into_iter()
        .map(|p| {
            let c = p.cert;
            let mut roles: Vec<String> = Vec::new();
            let mut presented_by: Vec<CertPresentation> = Vec::new();
            for (t, at) in &p.by {
                let role = role_of(at);
                if !roles.iter().any(|r| r == role) {
                    roles.push(role.to_string());
                }
                presented_by.push(CertPresentation {
                    endpoint: t.endpoint.clone(),
                    ip: t.target.ip.clone(),
                    position: at.position,
                    role: role.to_string(),
                });
            }
            roles.sort();
            presented_by.sort();
            presented_by.dedup();
            CertInventoryEntry {
                sha256: c.sha256.clone(),
                subject: c.subject.clone(),
                issuer: c.issuer.clone(),
                sans: c.sans.clone(),
                serial: c.serial.clone(),
                not_before: c.not_before.clone(),
                not_after: c.not_after.clone(),
                days_left: c.days_left,
                expired: c.expired,
                key_type: c.key_type.clone(),
                key_bits: c.key_bits,
                signature_algorithm: c.signature_algorithm.clone(),
                self_signed: c.self_signed,
                is_ca: c.is_ca,
                roles,
                presented_by,
            }
        })
        .collect();
    // `days_left` orders by the same `now` for every certificate; `not_after` (RFC 3339 UTC,
    // fixed width) breaks ties within a day.
    out.sort_by(|a, b| {
        (a.days_left, &a.not_after, &a.subject, &a.sha256).cmp(&(
            b.days_left,
            &b.not_after,
            &b.subject,
            &b.sha256,
        ))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fact::tls::sample;

    fn cert(sha: &str, position: u32, days_left: i64, not_after: &str) -> CertFacts {
        CertFacts {
            position,
            sha256: sha.into(),
            days_left,
            not_after: not_after.into(),
            subject: format!("CN={sha}"),
            ..Default::default()
        }
    }

    fn tls(endpoint: &str, chain: Vec<CertFacts>) -> SubjectFacts {
        let mut t: TlsSubject = sample();
        t.endpoint = endpoint.into();
        t.cert = chain.first().cloned();
        t.chain = chain;
        SubjectFacts::Tls(Box::new(t))
    }

    #[test]
    fn distinct_certificates_sorted_by_expiry_with_every_endpoint() {
        let inter = cert("i", 1, 5, "2026-01-06T00:00:00Z");
        let mut root = cert("r", 2, 900, "2028-06-01T00:00:00Z");
        root.self_signed = true;
        let subjects = vec![
            tls(
                "b.test:443",
                vec![
                    cert("b", 0, 60, "2026-03-01T00:00:00Z"),
                    inter.clone(),
                    root.clone(),
                ],
            ),
            tls(
                "a.test:443",
                vec![cert("a", 0, 5, "2026-01-06T12:00:00Z"), inter.clone()],
            ),
            SubjectFacts::sample(crate::finding::Subject::Port).unwrap(),
        ];
        let inv = build_inventory(&subjects);
        let order: Vec<&str> = inv.iter().map(|e| e.sha256.as_str()).collect();
        // Same days_left: the earlier not_after first.
        assert_eq!(order, ["i", "a", "b", "r"]);
        let i = &inv[0];
        assert_eq!(i.roles, ["intermediate"]);
        let eps: Vec<&str> = i.presented_by.iter().map(|p| p.endpoint.as_str()).collect();
        assert_eq!(eps, ["a.test:443", "b.test:443"]);
        assert!(i.presented_by.iter().all(|p| p.position == 1));
        assert_eq!(inv[3].roles, ["root"]);
        assert_eq!(inv[1].roles, ["leaf"]);
        assert_eq!(inv[1].presented_by[0].role, "leaf");
    }

    #[test]
    fn no_tls_subjects_no_inventory() {
        let subjects = vec![SubjectFacts::sample(crate::finding::Subject::Http).unwrap()];
        assert!(build_inventory(&subjects).is_empty());
    }

    #[test]
    fn a_certificate_in_two_roles_lists_both() {
        // The same self-signed certificate as a leaf on one endpoint and a root on another.
        let mut leaf = cert("s", 0, 10, "2026-02-01T00:00:00Z");
        leaf.self_signed = true;
        let mut as_root = leaf.clone();
        as_root.position = 1;
        let inv = build_inventory(&[
            tls("x.test:443", vec![leaf]),
            tls(
                "y.test:443",
                vec![cert("y", 0, 20, "2026-02-11T00:00:00Z"), as_root],
            ),
        ]);
        assert_eq!(inv[0].sha256, "s");
        assert_eq!(inv[0].roles, ["leaf", "root"]);
        assert_eq!(inv[0].presented_by.len(), 2);
    }
}
