//! DMARC (RFC 7489): record parsing, the organisational domain, and report destinations.
//!
//! The organisational domain (RFC 7489 §3.2) needs the Public Suffix List. We do not ship the
//! full list (it changes weekly and weighs 200 KiB); [`organizational_domain`] approximates it
//! with the rule "the last two labels, or three when the last two are a known two-level public
//! suffix" ([`TWO_LEVEL_SUFFIXES`]: `co.uk`, `com.au`, `co.jp`, …). Names under private suffixes
//! (`github.io`) get their registrable domain one level too high; for DMARC that only matters
//! when a subdomain has no record of its own, and the error is visible in `dns.dmarc.org_domain`.

use crate::fact::dns::DmarcFacts;

/// Known public suffixes of two labels, the common ccTLD second levels. Lowercase.
pub const TWO_LEVEL_SUFFIXES: &[&str] = &[
    "ac.uk",
    "co.uk",
    "gov.uk",
    "ltd.uk",
    "me.uk",
    "net.uk",
    "nhs.uk",
    "org.uk",
    "plc.uk",
    "sch.uk",
    "police.uk",
    "asn.au",
    "com.au",
    "edu.au",
    "gov.au",
    "id.au",
    "net.au",
    "org.au",
    "ac.nz",
    "co.nz",
    "geek.nz",
    "govt.nz",
    "net.nz",
    "org.nz",
    "school.nz",
    "ac.jp",
    "co.jp",
    "ed.jp",
    "go.jp",
    "gr.jp",
    "lg.jp",
    "ne.jp",
    "or.jp",
    "com.br",
    "edu.br",
    "gov.br",
    "net.br",
    "org.br",
    "com.cn",
    "edu.cn",
    "gov.cn",
    "net.cn",
    "org.cn",
    "ac.in",
    "co.in",
    "firm.in",
    "gen.in",
    "gov.in",
    "ind.in",
    "net.in",
    "org.in",
    "ac.za",
    "co.za",
    "gov.za",
    "org.za",
    "web.za",
    "com.mx",
    "gob.mx",
    "net.mx",
    "org.mx",
    "com.ar",
    "gob.ar",
    "com.tr",
    "gov.tr",
    "org.tr",
    "ac.kr",
    "co.kr",
    "go.kr",
    "or.kr",
    "com.sg",
    "edu.sg",
    "gov.sg",
    "org.sg",
    "com.hk",
    "gov.hk",
    "org.hk",
    "com.tw",
    "gov.tw",
    "org.tw",
    "ac.il",
    "co.il",
    "org.il",
    "ac.id",
    "co.id",
    "or.id",
    "com.my",
    "gov.my",
    "com.ph",
    "com.vn",
    "com.ua",
    "ac.th",
    "co.th",
    "in.th",
    "com.pl",
    "net.pl",
    "org.pl",
    "com.es",
    "co.at",
    "or.at",
    "ac.at",
    "com.ru",
    "com.co",
    "com.pe",
    "com.ec",
    "com.pk",
    "com.ng",
    "com.eg",
    "com.sa",
    "co.ke",
    "ac.be",
    "co.ve",
    "com.uy",
    "com.py",
    "com.bo",
    "com.gt",
    "com.cy",
    "com.mt",
    "co.hu",
];

/// RFC 7489 §3.2 organisational domain, approximated (see the module docs). Input and output
/// are lowercase names without the trailing dot.
pub fn organizational_domain(name: &str) -> String {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').filter(|l| !l.is_empty()).collect();
    if labels.len() <= 2 {
        return labels.join(".");
    }
    let last_two = labels[labels.len() - 2..].join(".");
    let keep = if TWO_LEVEL_SUFFIXES.contains(&last_two.as_str()) {
        3
    } else {
        2
    };
    labels[labels.len().saturating_sub(keep)..].join(".")
}

/// A parsed DMARC record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DmarcRecord {
    /// Effective policy: `none`, `quarantine` or `reject` (RFC 7489 §6.6.3: a missing or bad
    /// `p`, or a bad `sp`, with a valid `rua` acts as `none`).
    pub p: String,
    /// Empty when absent, or when a bad `p` or `sp` made the record act as `p=none`.
    pub sp: String,
    pub pct: i64,
    pub rua: Vec<String>,
    pub ruf: Vec<String>,
    pub adkim: String,
    pub aspf: String,
    pub errors: Vec<String>,
}

/// True when a TXT string is a DMARC record (`v=DMARC1` first, RFC 7489 §6.4).
pub fn is_dmarc(txt: &str) -> bool {
    let first = txt.split(';').next().unwrap_or("");
    let Some((k, v)) = first.split_once('=') else {
        return false;
    };
    k.trim() == "v" && v.trim() == "DMARC1"
}

/// Parse one DMARC record. `Err` when it is not usable at all (wrong version, no valid policy
/// and no report address to fall back on).
pub fn parse_dmarc(record: &str) -> Result<DmarcRecord, String> {
    if !is_dmarc(record) {
        return Err("record does not start with `v=DMARC1`".into());
    }
    let mut r = DmarcRecord {
        pct: 100,
        adkim: "r".into(),
        aspf: "r".into(),
        ..DmarcRecord::default()
    };
    let mut p_valid = false;
    let mut sp_invalid = false;
    for (i, part) in record.split(';').enumerate().skip(1) {
        let part = part.trim_matches([' ', '\t']);
        if part.is_empty() {
            continue;
        }
        let Some((tag, value)) = part.split_once('=') else {
            r.errors
                .push(format!("term {i} `{}` is not tag=value", clip(part)));
            continue;
        };
        let tag = tag.trim().to_ascii_lowercase();
        let value = value.trim();
        match tag.as_str() {
            "p" | "sp" => {
                let v = value.to_ascii_lowercase();
                if matches!(v.as_str(), "none" | "quarantine" | "reject") {
                    if tag == "p" {
                        p_valid = true;
                        r.p = v;
                    } else {
                        r.sp = v;
                    }
                } else {
                    sp_invalid |= tag == "sp";
                    r.errors.push(format!(
                        "`{tag}={}` is not none, quarantine or reject",
                        clip(value)
                    ));
                }
            }
            "pct" => match value.parse::<i64>() {
                Ok(n) if (0..=100).contains(&n) => r.pct = n,
                _ => r.errors.push(format!("`pct={}` is not 0-100", clip(value))),
            },
            "rua" | "ruf" => {
                let mut uris = Vec::new();
                for uri in value.split(',').map(str::trim).filter(|u| !u.is_empty()) {
                    if report_domain(uri).is_some() || uri.starts_with("https:") {
                        uris.push(uri.to_string());
                    } else {
                        r.errors
                            .push(format!("`{tag}` URI `{}` is not valid", clip(uri)));
                    }
                }
                if tag == "rua" {
                    r.rua = uris;
                } else {
                    r.ruf = uris;
                }
            }
            "adkim" | "aspf" => {
                let v = value.to_ascii_lowercase();
                if v == "r" || v == "s" {
                    if tag == "adkim" {
                        r.adkim = v;
                    } else {
                        r.aspf = v;
                    }
                } else {
                    r.errors
                        .push(format!("`{tag}={}` is not r or s", clip(value)));
                }
            }
            "v" => r.errors.push("`v` tag repeated".into()),
            // fo, rf, ri and unknown tags: RFC 7489 §6.3 says unknown tags are ignored.
            _ => {}
        }
    }
    // RFC 7489 §6.6.3: a record without a valid `p`, or with an `sp` that is not valid, is
    // read as `v=DMARC1; p=none` when it has a valid `rua`, and is no DMARC at all otherwise.
    if !p_valid || sp_invalid {
        let what = if p_valid {
            "an invalid `sp` tag"
        } else {
            "no valid `p` tag"
        };
        if r.rua.is_empty() {
            return Err(format!(
                "{what} and no `rua` to fall back on (RFC 7489 §6.6.3)"
            ));
        }
        r.errors.push(format!(
            "{what}: receivers act as if p=none (RFC 7489 §6.6.3)"
        ));
        r.p = "none".into();
        r.sp.clear();
    }
    Ok(r)
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// The domain of a `mailto:` report URI (`mailto:d@example.com!10m` → `example.com`).
pub fn report_domain(uri: &str) -> Option<String> {
    let rest = uri
        .get(..7)?
        .eq_ignore_ascii_case("mailto:")
        .then(|| &uri[7..])?;
    let addr = rest.split('!').next()?;
    let (local, domain) = addr.rsplit_once('@')?;
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let ok = !local.is_empty()
        && domain.contains('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then_some(domain)
}

/// The name to query for RFC 7489 §7.1 external report authorisation.
pub fn report_authorization_name(policy_domain: &str, report_domain: &str) -> String {
    format!("{policy_domain}._report._dmarc.{report_domain}")
}

/// Whether a report destination is outside the policy domain's organisational domain.
pub fn is_external(policy_domain: &str, report_domain: &str) -> bool {
    organizational_domain(policy_domain) != organizational_domain(report_domain)
}

/// Whether the policy `r`, published at `_dmarc.<record_domain>`, leaves `domain` (that name
/// itself, or a subdomain using its organisational domain's record) unprotected.
///
/// RFC 7489 §6.3: `sp` applies to the subdomains of the organisational domain and is ignored
/// in records published below it, so `sp=none` is weak only in the organisational domain's own
/// record. §6.6.3: a subdomain without a record gets its organisational domain's `sp`, or `p`
/// when `sp` is absent.
pub fn is_weak(r: &DmarcRecord, record_domain: &str, domain: &str) -> bool {
    let at_org = organizational_domain(record_domain) == record_domain;
    let effective = if domain != record_domain && !r.sp.is_empty() {
        &r.sp
    } else {
        &r.p
    };
    r.pct < 100 || effective == "none" || (at_org && r.sp == "none")
}

/// Fill the record part of [`DmarcFacts`] (`checked`, authorisation and the name are set by the
/// caller). `records` are the DMARC TXT strings found at `_dmarc.<record_domain>`, judged for
/// `domain` (the same name, or a subdomain falling back to its organisational domain; lowercase,
/// no trailing dot).
pub fn facts_from_records(records: &[String], record_domain: &str, domain: &str) -> DmarcFacts {
    let mut f = DmarcFacts {
        checked: true,
        ..DmarcFacts::default()
    };
    let dmarc: Vec<&String> = records.iter().filter(|r| is_dmarc(r)).collect();
    match dmarc.as_slice() {
        [] => {}
        [one] => {
            f.record = (*one).clone();
            match parse_dmarc(one) {
                Ok(r) => {
                    f.present = true;
                    f.weak = is_weak(&r, record_domain, domain);
                    f.p = r.p;
                    f.sp = r.sp;
                    f.pct = r.pct;
                    f.rua = r.rua;
                    f.ruf = r.ruf;
                    f.adkim = r.adkim;
                    f.aspf = r.aspf;
                    f.errors = r.errors;
                }
                Err(e) => f.errors.push(e),
            }
        }
        several => {
            f.record = several[0].clone();
            f.errors.push(format!(
                "{} DMARC records: receivers apply none (RFC 7489 §6.6.3)",
                several.len()
            ));
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_domain_approximation() {
        assert_eq!(organizational_domain("mail.example.com"), "example.com");
        assert_eq!(organizational_domain("a.b.example.co.uk."), "example.co.uk");
        assert_eq!(organizational_domain("example.co.uk"), "example.co.uk");
        assert_eq!(organizational_domain("Example.COM"), "example.com");
        assert_eq!(organizational_domain("com"), "com");
        assert_eq!(organizational_domain("x.y.lab.test"), "lab.test");
    }

    #[test]
    fn parses_full_record() {
        let r = parse_dmarc(
            "v=DMARC1; p=reject; sp=quarantine; pct=50; rua=mailto:a@example.com,mailto:b@x.example.net!10m; ruf=mailto:f@example.com; adkim=s; aspf=s; fo=1",
        )
        .unwrap();
        assert_eq!(
            (r.p.as_str(), r.sp.as_str(), r.pct),
            ("reject", "quarantine", 50)
        );
        assert_eq!(r.rua.len(), 2);
        assert_eq!(r.ruf, ["mailto:f@example.com"]);
        assert_eq!((r.adkim.as_str(), r.aspf.as_str()), ("s", "s"));
        assert!(r.errors.is_empty());
    }

    #[test]
    fn defaults_and_whitespace() {
        let r = parse_dmarc("v=DMARC1;p = quarantine ;").unwrap();
        assert_eq!((r.pct, r.adkim.as_str(), r.sp.as_str()), (100, "r", ""));
        assert_eq!(r.p, "quarantine");
    }

    #[test]
    fn bad_policy_falls_back_to_none_with_rua() {
        let r = parse_dmarc("v=DMARC1; p=rejekt; rua=mailto:d@example.com").unwrap();
        assert_eq!(r.p, "none");
        assert_eq!(r.errors.len(), 2);
        assert!(parse_dmarc("v=DMARC1; p=rejekt").is_err());
        assert!(parse_dmarc("v=DMARC1").is_err());
        assert!(parse_dmarc("v=spf1 -all").is_err());
        assert!(parse_dmarc("p=reject; v=DMARC1").is_err());
    }

    #[test]
    fn bad_values_are_errors() {
        let r = parse_dmarc("v=DMARC1; p=reject; pct=150; adkim=x; rua=http//bad").unwrap();
        assert_eq!(r.errors.len(), 3, "{:?}", r.errors);
        assert_eq!(r.pct, 100);
    }

    #[test]
    fn weak_policies() {
        let f = |r: &str| facts_from_records(&[r.to_string()], "example.com", "example.com");
        assert!(f("v=DMARC1; p=none").weak);
        assert!(f("v=DMARC1; p=reject; pct=99").weak);
        assert!(f("v=DMARC1; p=reject; sp=none").weak);
        assert!(!f("v=DMARC1; p=reject").weak);
        assert!(!f("v=DMARC1; p=quarantine; sp=reject").weak);
    }

    #[test]
    fn sp_counts_only_at_the_organisational_domain() {
        let weak =
            |r: &str, at: &str, for_: &str| facts_from_records(&[r.to_string()], at, for_).weak;
        // RFC 7489 §6.3: `sp` in a record below the organisational domain is ignored.
        let sub = "mail.example.com";
        assert!(!weak("v=DMARC1; p=reject; sp=none", sub, sub));
        assert!(weak("v=DMARC1; p=none; sp=reject", sub, sub));
        // A subdomain using the organisational domain's record gets `sp`, else `p`.
        assert!(weak("v=DMARC1; p=reject; sp=none", "example.com", sub));
        assert!(!weak("v=DMARC1; p=none; sp=reject", "example.com", sub));
        assert!(!weak("v=DMARC1; p=reject", "example.com", sub));
        assert!(weak("v=DMARC1; p=none", "example.com", sub));
        assert!(weak("v=DMARC1; p=reject; pct=50", "example.com", sub));
        // At the organisational domain, sp=none leaves its subdomains open.
        assert!(weak(
            "v=DMARC1; p=reject; sp=none",
            "example.co.uk",
            "example.co.uk"
        ));
    }

    #[test]
    fn bad_sp_falls_back_like_bad_p() {
        // RFC 7489 §6.6.3: an invalid `sp` is read as p=none with a valid rua, else no DMARC.
        assert!(parse_dmarc("v=DMARC1; p=reject; sp=bogus").is_err());
        let r = parse_dmarc("v=DMARC1; p=reject; sp=bogus; rua=mailto:d@example.com").unwrap();
        assert_eq!((r.p.as_str(), r.sp.as_str()), ("none", ""));
        assert_eq!(r.errors.len(), 2, "{:?}", r.errors);
        assert!(r.errors[1].contains("invalid `sp`"), "{:?}", r.errors);
        let f = facts_from_records(
            &["v=DMARC1; p=reject; sp=bogus".into()],
            "example.com",
            "example.com",
        );
        assert!(!f.present && f.errors.len() == 1);
        let f = facts_from_records(
            &["v=DMARC1; p=reject; sp=bogus; rua=mailto:d@example.com".into()],
            "example.com",
            "example.com",
        );
        assert!(f.present && f.weak);
    }

    #[test]
    fn several_records_apply_none() {
        let f = facts_from_records(
            &["v=DMARC1; p=reject".into(), "v=DMARC1; p=none".into()],
            "example.com",
            "example.com",
        );
        assert!(!f.present && f.checked);
        assert_eq!(f.errors.len(), 1);
        let f = facts_from_records(&["unrelated".into()], "example.com", "example.com");
        assert!(!f.present && f.errors.is_empty());
    }

    #[test]
    fn report_domains_and_authorisation() {
        assert_eq!(
            report_domain("mailto:d@Reports.Example.NET!10m").as_deref(),
            Some("reports.example.net")
        );
        assert_eq!(report_domain("mailto:nobody"), None);
        assert_eq!(report_domain("https://x.example"), None);
        assert!(is_external("example.com", "reports.example.net"));
        assert!(!is_external("mail.example.com", "example.com"));
        assert_eq!(
            report_authorization_name("example.com", "example.net"),
            "example.com._report._dmarc.example.net"
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "v=DMARC1;[ -~]{0,200}") {
            let _ = parse_dmarc(&s);
            let _ = organizational_domain(&s);
            let _ = report_domain(&s);
        }
    }
}
