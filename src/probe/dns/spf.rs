//! SPF (RFC 7208): parse a record, and count the DNS lookups its evaluation costs.
//!
//! [`parse_spf`] is pure and never fails: it returns every term it understood and one error line
//! per term it did not, so a record with one typo still shows its `all` qualifier. [`count_lookups`]
//! walks `include:` and `redirect=` targets through an [`SpfSource`] (the DNS in the probe, a
//! map in the tests) and counts what RFC 7208 §4.6.4 limits: terms that query DNS (at most 10)
//! and lookups that return nothing (at most 2). Counting is static, like checkdmarc's: every
//! term is counted as if evaluation reached it, which is the worst case a receiver can hit.

use crate::fact::dns::{SpfFacts, SpfTerm};
use std::collections::VecDeque;
use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr};

/// RFC 7208 §4.6.4: terms causing DNS queries allowed per evaluation.
pub const SPF_MAX_LOOKUPS: i64 = 10;
/// RFC 7208 §4.6.4: lookups returning no records allowed per evaluation.
pub const SPF_MAX_VOID_LOOKUPS: i64 = 2;
/// Included/redirected records fetched while counting. Past the lookup limit the verdict is
/// settled; this bounds the I/O a hostile include tree can cause (twice the limit, so the count
/// still shows how far over it is).
pub const SPF_MAX_FETCHES: usize = 20;
/// Terms kept per record: RFC 7208 records fit in a few hundred bytes; a 4 KiB TXT is ~500.
pub const SPF_MAX_TERMS: usize = 256;

/// A parsed SPF record: the terms understood and the errors found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpfRecord {
    pub terms: Vec<SpfTerm>,
    pub errors: Vec<String>,
}

impl SpfRecord {
    /// The `all` mechanism with its qualifier (`-all`), if any.
    pub fn all(&self) -> Option<String> {
        self.terms
            .iter()
            .find(|t| !t.modifier && t.kind == "all")
            .map(|t| format!("{}all", t.qualifier))
    }

    /// The `redirect=` target, if any.
    pub fn redirect(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.modifier && t.kind == "redirect")
            .map(|t| t.value.as_str())
    }
}

/// True when a TXT string is an SPF record: `v=spf1` followed by a space or the end
/// (RFC 7208 §4.5; `v=spf10` is not one).
pub fn is_spf(txt: &str) -> bool {
    let t = txt.as_bytes();
    t.len() >= 6 && t[..6].eq_ignore_ascii_case(b"v=spf1") && (t.len() == 6 || t[6] == b' ')
}

/// Parse one SPF record (the TXT strings already concatenated).
pub fn parse_spf(record: &str) -> SpfRecord {
    let mut out = SpfRecord::default();
    if !is_spf(record) {
        out.errors
            .push("record does not start with `v=spf1`".into());
        return out;
    }
    let mut redirects = 0;
    let mut exps = 0;
    for raw in record[6..].split(' ').filter(|t| !t.is_empty()) {
        if out.terms.len() >= SPF_MAX_TERMS {
            out.errors
                .push(format!("more than {SPF_MAX_TERMS} terms; the rest ignored"));
            break;
        }
        match parse_term(raw) {
            Ok(term) => {
                if term.modifier && term.kind == "redirect" {
                    redirects += 1;
                }
                if term.modifier && term.kind == "exp" {
                    exps += 1;
                }
                out.terms.push(term);
            }
            Err(e) => out.errors.push(format!("`{}`: {e}", clip(raw))),
        }
    }
    if redirects > 1 {
        out.errors
            .push("`redirect` appears more than once (RFC 7208 §6)".into());
    }
    if exps > 1 {
        out.errors
            .push("`exp` appears more than once (RFC 7208 §6)".into());
    }
    out
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

fn parse_term(raw: &str) -> Result<SpfTerm, String> {
    if !raw.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err("non-printable or non-ASCII character".into());
    }
    // A modifier is `name=value` where name starts with a letter; a mechanism never has `=`
    // before its first `:` or `/`.
    if let Some(eq) = raw.find('=') {
        let name = &raw[..eq];
        let before_sep = raw.find([':', '/']).is_none_or(|s| s > eq);
        if before_sep && is_modifier_name(name) {
            let value = &raw[eq + 1..];
            let kind = name.to_ascii_lowercase();
            if kind == "redirect" || kind == "exp" {
                check_domain_spec(value)?;
            } else {
                check_macro_string(value)?;
            }
            return Ok(SpfTerm {
                qualifier: String::new(),
                kind,
                value: value.into(),
                modifier: true,
            });
        }
    }
    let (qualifier, rest) = match raw.as_bytes()[0] {
        q @ (b'+' | b'-' | b'~' | b'?') => ((q as char).to_string(), &raw[1..]),
        _ => ("+".to_string(), raw),
    };
    let split = rest.find([':', '/']).unwrap_or(rest.len());
    let kind = rest[..split].to_ascii_lowercase();
    let arg = &rest[split..];
    let value = arg.strip_prefix(':').unwrap_or(arg);
    let has_colon = arg.starts_with(':');
    match kind.as_str() {
        "all" => {
            if !arg.is_empty() {
                return Err("`all` takes no argument".into());
            }
        }
        "include" | "exists" => {
            if !has_colon {
                return Err(format!("`{kind}` needs `:domain`"));
            }
            check_domain_spec(value)?;
        }
        "a" | "mx" => {
            let (domain, cidr) = split_cidr(arg);
            if let Some(d) = domain {
                check_domain_spec(d)?;
            }
            check_dual_cidr(cidr)?;
        }
        "ptr" => {
            if has_colon {
                check_domain_spec(value)?;
            } else if !arg.is_empty() {
                return Err("`ptr` takes only `:domain`".into());
            }
        }
        "ip4" => {
            if !has_colon {
                return Err("`ip4` needs `:address`".into());
            }
            let (ip, len) = value
                .split_once('/')
                .map_or((value, None), |(a, b)| (a, Some(b)));
            ip.parse::<Ipv4Addr>()
                .map_err(|_| format!("`{}` is not an IPv4 address", clip(ip)))?;
            check_prefix(len, 32)?;
        }
        "ip6" => {
            if !has_colon {
                return Err("`ip6` needs `:address`".into());
            }
            let (ip, len) = value
                .split_once('/')
                .map_or((value, None), |(a, b)| (a, Some(b)));
            ip.parse::<Ipv6Addr>()
                .map_err(|_| format!("`{}` is not an IPv6 address", clip(ip)))?;
            check_prefix(len, 128)?;
        }
        "" => return Err("empty mechanism".into()),
        other => return Err(format!("unknown mechanism `{}`", clip(other))),
    }
    Ok(SpfTerm {
        qualifier,
        kind,
        value: value.into(),
        modifier: false,
    })
}

fn is_modifier_name(name: &str) -> bool {
    let mut b = name.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// `a` / `mx` argument: `[:domain-spec][/ip4-len][//ip6-len]`.
fn split_cidr(arg: &str) -> (Option<&str>, &str) {
    let (domain_part, cidr) = match arg.find('/') {
        Some(i) => (&arg[..i], &arg[i..]),
        None => (arg, ""),
    };
    (domain_part.strip_prefix(':'), cidr)
}

fn check_dual_cidr(cidr: &str) -> Result<(), String> {
    if cidr.is_empty() {
        return Ok(());
    }
    if let Some(v6) = cidr.strip_prefix("//") {
        return check_prefix(Some(v6), 128);
    }
    let rest = &cidr[1..];
    match rest.split_once("//") {
        Some((v4, v6)) => {
            check_prefix(Some(v4), 32)?;
            check_prefix(Some(v6), 128)
        }
        None => check_prefix(Some(rest), 32),
    }
}

fn check_prefix(len: Option<&str>, max: u8) -> Result<(), String> {
    let Some(len) = len else { return Ok(()) };
    // RFC 7208 §5.6: no leading zeros, at most the address width.
    let ok = !len.is_empty()
        && len.len() <= 3
        && len.bytes().all(|b| b.is_ascii_digit())
        && !(len.len() > 1 && len.starts_with('0'))
        && len.parse::<u16>().is_ok_and(|n| n <= u16::from(max));
    if ok {
        Ok(())
    } else {
        Err(format!("bad prefix length `/{}`", clip(len)))
    }
}

/// RFC 7208 §7.1 macro-string: visible characters, `%` only as `%%`, `%_`, `%-` or `%{…}`.
fn check_macro_string(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match b.get(i + 1) {
                Some(b'%' | b'_' | b'-') => i += 2,
                Some(b'{') => {
                    let end = s[i..]
                        .find('}')
                        .ok_or_else(|| "unterminated macro `%{`".to_string())?;
                    let body = &s[i + 2..i + end];
                    check_macro_body(body)?;
                    i += end + 1;
                }
                _ => return Err("`%` must be followed by `%`, `_`, `-` or `{`".into()),
            }
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn check_macro_body(body: &str) -> Result<(), String> {
    let mut chars = body.chars();
    match chars.next().map(|c| c.to_ascii_lowercase()) {
        Some('s' | 'l' | 'o' | 'd' | 'i' | 'p' | 'h' | 'c' | 'r' | 't' | 'v') => {}
        _ => return Err(format!("bad macro letter in `%{{{}}}`", clip(body))),
    }
    let rest: String = chars.collect();
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let mut tail = &rest[digits_end..];
    if tail.starts_with(['r', 'R']) {
        tail = &tail[1..];
    }
    if tail.chars().all(|c| ".-+,/_=".contains(c)) {
        Ok(())
    } else {
        Err(format!("bad macro transformer in `%{{{}}}`", clip(body)))
    }
}

/// RFC 7208 §7.1 domain-spec: a macro-string ending in a macro or in `.toplabel[.]`.
fn check_domain_spec(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty domain".into());
    }
    check_macro_string(s)?;
    if s.ends_with('}') {
        return Ok(());
    }
    let trimmed = s.strip_suffix('.').unwrap_or(s);
    let Some(dot) = trimmed.rfind('.') else {
        return Err(format!("`{}` is not a domain name", clip(s)));
    };
    let top = &trimmed[dot + 1..];
    let alnum_dash = top.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let has_alpha = top.bytes().any(|b| b.is_ascii_alphabetic());
    let valid = !top.is_empty()
        && alnum_dash
        && !top.starts_with('-')
        && !top.ends_with('-')
        && (has_alpha || top.contains('-'));
    if valid && top.len() <= 63 {
        Ok(())
    } else {
        Err(format!("`{}` does not end in a valid top label", clip(s)))
    }
}

/// The outcome of one lookup made while counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    Found(T),
    /// NXDOMAIN, or NOERROR without records: a "void lookup".
    Void,
    /// Timeout, SERVFAIL, malformed answer: the count is incomplete.
    Failed(String),
}

/// The DNS as SPF counting needs it.
pub trait SpfSource {
    /// The TXT strings at `domain` (each record's strings concatenated).
    fn txt(&self, domain: &str) -> impl Future<Output = Lookup<Vec<String>>> + Send;
    /// Whether `domain` has records the mechanism `kind` (`a`, `mx`, `exists`) would use.
    fn exists(&self, domain: &str, kind: &str) -> impl Future<Output = Lookup<()>> + Send;
}

/// The counted verdict for one domain's SPF policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpfCount {
    pub lookups: i64,
    pub void_lookups: i64,
    pub ptr: bool,
    /// The qualified `all` that ends evaluation: the top record's, else the one reached through
    /// `redirect`, else `?all` when the record at the end of the redirect chain has neither
    /// (RFC 7208 §4.7). `None` when a `redirect` could not be followed: its target has no single
    /// SPF record, does not exist or loops (RFC 7208 §6.1: permerror, not the neutral
    /// default), or its lookup failed or was not made (macros, the fetch bound).
    pub effective_all: Option<String>,
    pub errors: Vec<String>,
    /// Names whose SPF record was read, each once, in the order first read.
    pub included: Vec<String>,
    /// A lookup failed (timeout/SERVFAIL): the count may be low.
    pub incomplete: Vec<String>,
}

/// One record to walk: where it is published, the record, the names of the records that led to
/// it (itself last), and whether it is on the top record's redirect chain.
struct Pending {
    owner: String,
    record: SpfRecord,
    chain: Vec<String>,
    on_redirect_chain: bool,
}

/// Count lookups for the policy `top` published at `domain`, following include and redirect.
///
/// A loop is a target already among the records that led to the term (RFC 7208 §5.2 evaluates
/// each `include` on its own, so one policy reached twice through different includes is no
/// loop, and is counted, and fetched, each time). The fetch bound ends the walk either way.
pub async fn count_lookups<S: SpfSource>(domain: &str, top: &SpfRecord, source: &S) -> SpfCount {
    let mut c = SpfCount::default();
    let domain = domain.to_ascii_lowercase();
    let mut queue: VecDeque<Pending> = VecDeque::new();
    queue.push_back(Pending {
        owner: domain.clone(),
        record: top.clone(),
        chain: vec![domain],
        on_redirect_chain: true,
    });
    let mut fetches = 0usize;
    while let Some(Pending {
        owner,
        record: rec,
        chain,
        on_redirect_chain,
    }) = queue.pop_front()
    {
        let has_all = rec.all().is_some();
        if on_redirect_chain {
            // RFC 7208 §4.7: a record with neither `all` nor `redirect` ends in neutral.
            c.effective_all = rec
                .all()
                .or_else(|| rec.redirect().is_none().then(|| "?all".to_string()));
        }
        for t in &rec.terms {
            let counts = match (t.modifier, t.kind.as_str()) {
                (false, "include" | "a" | "mx" | "ptr" | "exists") => true,
                // RFC 7208 §6.1: redirect is ignored when the record has an `all`.
                (true, "redirect") => !has_all,
                _ => false,
            };
            if !counts {
                continue;
            }
            c.lookups += 1;
            if t.kind == "ptr" {
                c.ptr = true;
            }
            let target = if t.value.is_empty() {
                owner.clone()
            } else {
                t.value.trim_end_matches('.').to_ascii_lowercase()
            };
            if target.contains('%') {
                // Macros need the sender's address and name: nothing to follow statically.
                continue;
            }
            match t.kind.as_str() {
                "include" | "redirect" => {
                    if chain.contains(&target) {
                        c.errors
                            .push(format!("{owner}: {} loop via `{target}`", t.kind));
                        continue;
                    }
                    if fetches >= SPF_MAX_FETCHES || c.lookups > 2 * SPF_MAX_LOOKUPS {
                        continue;
                    }
                    fetches += 1;
                    if !c.included.contains(&target) {
                        c.included.push(target.clone());
                    }
                    match source.txt(&target).await {
                        Lookup::Found(txts) => {
                            let spf: Vec<&String> = txts.iter().filter(|t| is_spf(t)).collect();
                            match spf.as_slice() {
                                // RFC 7208 §5.2/§6.1: permerror. Not a void lookup: the name
                                // has TXT records (§4.6.4 counts only empty answers).
                                [] => c.errors.push(format!(
                                    "{owner}: {} target `{target}` has no SPF record",
                                    t.kind
                                )),
                                [one] => {
                                    let r = parse_spf(one);
                                    for e in &r.errors {
                                        c.errors.push(format!("{target}: {e}"));
                                    }
                                    let mut chain = chain.clone();
                                    chain.push(target.clone());
                                    queue.push_back(Pending {
                                        owner: target,
                                        record: r,
                                        chain,
                                        on_redirect_chain: t.kind == "redirect"
                                            && on_redirect_chain,
                                    });
                                }
                                _ => c.errors.push(format!(
                                    "{owner}: {} target `{target}` has several SPF records",
                                    t.kind
                                )),
                            }
                        }
                        Lookup::Void => {
                            c.void_lookups += 1;
                            c.errors.push(format!(
                                "{owner}: {} target `{target}` does not exist",
                                t.kind
                            ));
                        }
                        Lookup::Failed(e) => c.incomplete.push(format!("{target} TXT: {e}")),
                    }
                }
                "a" | "mx" | "exists" => {
                    if fetches >= SPF_MAX_FETCHES || c.lookups > 2 * SPF_MAX_LOOKUPS {
                        continue;
                    }
                    fetches += 1;
                    match source.exists(&target, &t.kind).await {
                        Lookup::Found(()) => {}
                        Lookup::Void => c.void_lookups += 1,
                        Lookup::Failed(e) => {
                            c.incomplete.push(format!("{target} ({}): {e}", t.kind))
                        }
                    }
                }
                _ => {}
            }
        }
    }
    c
}

/// Build the SPF facts from the TXT strings at `domain` and the DNS behind `source`.
pub async fn evaluate<S: SpfSource>(
    domain: &str,
    txts: &[String],
    source: &S,
) -> (SpfFacts, Vec<String>) {
    let records: Vec<&String> = txts.iter().filter(|t| is_spf(t)).collect();
    let mut f = SpfFacts {
        checked: true,
        records_found: records.len() as i64,
        ..SpfFacts::default()
    };
    let Some(first) = records.first() else {
        return (f, Vec::new());
    };
    f.record = (*first).clone();
    if records.len() > 1 {
        f.errors
            .push("several `v=spf1` records (RFC 7208 §4.5: permanent error)".into());
    }
    let parsed = parse_spf(first);
    f.errors.extend(parsed.errors.iter().cloned());
    f.terms = parsed.terms.clone();
    let count = count_lookups(domain, &parsed, source).await;
    f.present = records.len() == 1;
    f.lookups = count.lookups;
    f.void_lookups = count.void_lookups;
    f.ptr = count.ptr;
    // Empty when a redirect failed: the result is permerror (RFC 7208 §6.1), which neither
    // passes nor leaves any host unjudged, so it is not permissive; `invalid` reports it.
    f.all = count.effective_all.clone().unwrap_or_default();
    f.permissive = f.all == "+all" || f.all == "?all";
    f.too_many_lookups = f.lookups > SPF_MAX_LOOKUPS || f.void_lookups > SPF_MAX_VOID_LOOKUPS;
    if f.ptr {
        f.errors
            .push("`ptr` mechanism used (RFC 7208 §5.5: do not use)".into());
    }
    if f.lookups > SPF_MAX_LOOKUPS {
        f.errors.push(format!(
            "{} DNS-querying terms (limit {SPF_MAX_LOOKUPS}, RFC 7208 §4.6.4)",
            f.lookups
        ));
    }
    if f.void_lookups > SPF_MAX_VOID_LOOKUPS {
        f.errors.push(format!(
            "{} void lookups (limit {SPF_MAX_VOID_LOOKUPS}, RFC 7208 §4.6.4)",
            f.void_lookups
        ));
    }
    f.errors.extend(count.errors.iter().cloned());
    f.included = count.included;
    f.invalid = records.len() > 1 || !parsed.errors.is_empty() || f.ptr || !count.errors.is_empty();
    (f, count.incomplete)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct MapSource {
        txt: HashMap<String, Vec<String>>,
        exists: HashMap<String, bool>,
        failing: Vec<String>,
    }

    impl MapSource {
        fn with(mut self, d: &str, r: &str) -> Self {
            self.txt.insert(d.into(), vec![r.into()]);
            self
        }
        fn host(mut self, d: &str) -> Self {
            self.exists.insert(d.into(), true);
            self
        }
    }

    impl SpfSource for MapSource {
        async fn txt(&self, domain: &str) -> Lookup<Vec<String>> {
            if self.failing.iter().any(|f| f == domain) {
                return Lookup::Failed("timeout".into());
            }
            match self.txt.get(domain) {
                Some(v) => Lookup::Found(v.clone()),
                None => Lookup::Void,
            }
        }
        async fn exists(&self, domain: &str, _kind: &str) -> Lookup<()> {
            if self.exists.get(domain).copied().unwrap_or(false) {
                Lookup::Found(())
            } else {
                Lookup::Void
            }
        }
    }

    fn run(domain: &str, src: &MapSource) -> (SpfFacts, Vec<String>) {
        let txts = src.txt.get(domain).cloned().unwrap_or_default();
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(evaluate(domain, &txts, src))
    }

    #[test]
    fn recognises_spf_version() {
        assert!(is_spf("v=spf1"));
        assert!(is_spf("V=SPF1 -all"));
        assert!(!is_spf("v=spf10 -all"));
        assert!(!is_spf("spf1 -all"));
        assert!(!is_spf("v=DMARC1; p=none"));
    }

    #[test]
    fn parses_mechanisms_and_qualifiers() {
        let r = parse_spf("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx:mail.example.com/24//64 include:_spf.example.net ~all");
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let kinds: Vec<(&str, &str)> = r
            .terms
            .iter()
            .map(|t| (t.qualifier.as_str(), t.kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("+", "ip4"),
                ("+", "ip6"),
                ("+", "a"),
                ("+", "mx"),
                ("+", "include"),
                ("~", "all")
            ]
        );
        assert_eq!(r.terms[3].value, "mail.example.com/24//64");
        assert_eq!(r.all().as_deref(), Some("~all"));
    }

    #[test]
    fn parses_modifiers() {
        let r = parse_spf("v=spf1 redirect=_spf.example.com exp=explain.%{d} foo=bar");
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.redirect(), Some("_spf.example.com"));
        assert!(r.terms.iter().all(|t| t.modifier));
        assert_eq!(r.terms[2].kind, "foo");
    }

    #[test]
    fn reports_syntax_errors_and_keeps_the_rest() {
        let r = parse_spf(
            "v=spf1 ip4:300.1.1.1 include: foo:bar ip4:10.0.0.0/33 include:nodot a/0123 all:x -all",
        );
        assert_eq!(r.errors.len(), 7, "{:?}", r.errors);
        assert_eq!(r.all().as_deref(), Some("-all"));
        assert!(
            parse_spf("v=spf1 redirect=a.example redirect=b.example").errors[0]
                .contains("more than once")
        );
        assert!(!parse_spf("v=spf1 exists:%{i}.%{l1r+-}._spf.%{d} -all")
            .errors
            .iter()
            .any(|_| true));
        assert!(!parse_spf("v=spf1 exists:%{x}.example.com")
            .errors
            .is_empty());
        assert!(!parse_spf("v=spf1 include:example.com%").errors.is_empty());
        assert!(!parse_spf("v=spf1 \u{e9}").errors.is_empty());
    }

    #[test]
    fn strict_record_is_clean() {
        let src = MapSource::default()
            .with("example.com", "v=spf1 mx -all")
            .host("example.com");
        let (f, inc) = run("example.com", &src);
        assert!(inc.is_empty());
        assert!(f.present && !f.invalid && !f.permissive && !f.too_many_lookups);
        assert_eq!((f.lookups, f.void_lookups, f.all.as_str()), (1, 0, "-all"));
    }

    #[test]
    fn permissive_all_and_missing_all() {
        let src = MapSource::default().with("a.example", "v=spf1 +all");
        assert!(run("a.example", &src).0.permissive);
        let src = MapSource::default().with("a.example", "v=spf1 ?all");
        assert!(run("a.example", &src).0.permissive);
        // No `all` and no redirect: the default result is neutral (RFC 7208 §4.7).
        let src = MapSource::default().with("a.example", "v=spf1 ip4:192.0.2.1");
        let f = run("a.example", &src).0;
        assert_eq!(f.all, "?all");
        assert!(f.permissive);
        let src = MapSource::default().with("a.example", "v=spf1 ~all");
        assert!(!run("a.example", &src).0.permissive);
    }

    #[test]
    fn redirect_inherits_all() {
        let src = MapSource::default()
            .with("a.example", "v=spf1 redirect=_spf.b.example")
            .with("_spf.b.example", "v=spf1 ip4:192.0.2.1 -all");
        let f = run("a.example", &src).0;
        assert_eq!(f.all, "-all");
        assert!(!f.permissive && !f.invalid);
        assert_eq!(f.lookups, 1);
    }

    #[test]
    fn counts_lookups_recursively() {
        // 1 include at top; each of 3 includes adds 1 + 4 own lookups → 1 + 3*(1+… )
        let mut src = MapSource::default().with(
            "big.example",
            "v=spf1 include:i1.example include:i2.example include:i3.example -all",
        );
        for i in 1..=3 {
            src = src
                .with(
                    &format!("i{i}.example"),
                    "v=spf1 a:h.example mx:h.example exists:h.example -all",
                )
                .host("h.example");
        }
        let f = run("big.example", &src).0;
        assert_eq!(f.lookups, 3 + 3 * 3);
        assert!(f.too_many_lookups);
        assert!(f.errors.iter().any(|e| e.contains("limit 10")));
        assert_eq!(f.included.len(), 3);
    }

    #[test]
    fn exactly_ten_lookups_is_allowed() {
        let rec = format!(
            "v=spf1 {} -all",
            (0..10).map(|_| "a:h.example").collect::<Vec<_>>().join(" ")
        );
        let src = MapSource::default()
            .with("x.example", &rec)
            .host("h.example");
        let f = run("x.example", &src).0;
        assert_eq!(f.lookups, 10);
        assert!(!f.too_many_lookups);
    }

    #[test]
    fn counts_void_lookups() {
        let src = MapSource::default().with(
            "v.example",
            "v=spf1 a:gone1.example a:gone2.example mx:gone3.example -all",
        );
        let f = run("v.example", &src).0;
        assert_eq!(f.void_lookups, 3);
        assert!(f.too_many_lookups);
        let src =
            MapSource::default().with("v.example", "v=spf1 a:gone1.example a:gone2.example -all");
        assert!(!run("v.example", &src).0.too_many_lookups);
    }

    #[test]
    fn include_loop_and_missing_target_are_invalid() {
        let src = MapSource::default()
            .with("l.example", "v=spf1 include:m.example -all")
            .with("m.example", "v=spf1 include:l.example -all");
        let f = run("l.example", &src).0;
        assert!(f.invalid);
        assert!(
            f.errors.iter().any(|e| e.contains("loop")),
            "{:?}",
            f.errors
        );
        let src = MapSource::default().with("n.example", "v=spf1 include:none.example -all");
        let f = run("n.example", &src).0;
        assert!(f.invalid);
        assert_eq!(f.void_lookups, 1);
    }

    #[test]
    fn policy_reached_twice_is_no_loop_but_counts_twice() {
        // RFC 7208 §5.2: each include is evaluated on its own; only a cycle is a loop.
        let src = MapSource::default()
            .with(
                "diamond.example",
                "v=spf1 include:d1.example include:d2.example -all",
            )
            .with("d1.example", "v=spf1 include:d3.example -all")
            .with("d2.example", "v=spf1 include:d3.example -all")
            .with("d3.example", "v=spf1 ip4:192.0.2.1 -all");
        let f = run("diamond.example", &src).0;
        assert!(!f.invalid && f.errors.is_empty(), "{:?}", f.errors);
        assert_eq!(f.lookups, 4);
        assert_eq!(f.included, ["d1.example", "d2.example", "d3.example"]);
        // A cycle below the diamond is still a loop.
        let src = MapSource::default()
            .with(
                "diamond.example",
                "v=spf1 include:d1.example include:d2.example -all",
            )
            .with("d1.example", "v=spf1 include:d3.example -all")
            .with("d2.example", "v=spf1 -all")
            .with("d3.example", "v=spf1 include:d1.example -all");
        let f = run("diamond.example", &src).0;
        assert!(f.invalid);
        assert_eq!(f.errors, ["d3.example: include loop via `d1.example`"]);
    }

    #[test]
    fn failed_redirect_is_permerror_not_neutral() {
        // RFC 7208 §6.1: a redirect target without one SPF record is permerror; the §4.7
        // neutral default is for records with neither `all` nor `redirect`.
        let mut src = MapSource::default()
            .with("r.example", "v=spf1 redirect=nospf.example")
            .with("nospf.example", "hello world")
            .with("rs.example", "v=spf1 redirect=several.example")
            .with("rx.example", "v=spf1 redirect=gone.example")
            .with("rt.example", "v=spf1 redirect=slow.example")
            .with("rl.example", "v=spf1 redirect=rl2.example")
            .with("rl2.example", "v=spf1 redirect=rl.example");
        src.txt.insert(
            "several.example".into(),
            vec!["v=spf1 -all".into(), "v=spf1 +all".into()],
        );
        src.failing.push("slow.example".into());
        for d in ["r.example", "rs.example", "rx.example", "rl.example"] {
            let f = run(d, &src).0;
            assert_eq!(
                (f.all.as_str(), f.permissive, f.invalid),
                ("", false, true),
                "{d}"
            );
        }
        let (f, inc) = run("rt.example", &src);
        assert_eq!(
            (f.all.as_str(), f.permissive, f.invalid),
            ("", false, false)
        );
        assert_eq!(inc.len(), 1);
        // The end of a working chain without `all` is still neutral.
        let src = MapSource::default()
            .with("a.example", "v=spf1 redirect=b.example")
            .with("b.example", "v=spf1 ip4:192.0.2.1");
        let f = run("a.example", &src).0;
        assert_eq!((f.all.as_str(), f.permissive), ("?all", true));
    }

    #[test]
    fn target_with_txt_but_no_spf_is_not_a_void_lookup() {
        // RFC 7208 §4.6.4: void means NXDOMAIN or no answer records; this name has a TXT.
        let src = MapSource::default()
            .with(
                "v.example",
                "v=spf1 a:gone1.example a:gone2.example include:nospf.example -all",
            )
            .with("nospf.example", "hello world");
        let f = run("v.example", &src).0;
        assert_eq!(
            (f.void_lookups, f.too_many_lookups, f.invalid),
            (2, false, true)
        );
    }

    #[test]
    fn ptr_and_multiple_records_are_invalid() {
        let src = MapSource::default().with("p.example", "v=spf1 ptr -all");
        let f = run("p.example", &src).0;
        assert!(f.ptr && f.invalid);
        let mut src = MapSource::default();
        src.txt.insert(
            "d.example".into(),
            vec![
                "v=spf1 -all".into(),
                "v=spf1 mx -all".into(),
                "other".into(),
            ],
        );
        let f = run("d.example", &src).0;
        assert_eq!(f.records_found, 2);
        assert!(f.invalid && !f.present);
    }

    #[test]
    fn no_record_is_not_present_and_not_invalid() {
        let mut src = MapSource::default();
        src.txt.insert(
            "n.example".into(),
            vec!["google-site-verification=x".into()],
        );
        let f = run("n.example", &src).0;
        assert!(f.checked && !f.present && !f.invalid && f.records_found == 0);
    }

    #[test]
    fn failed_lookup_makes_count_incomplete_not_invalid() {
        let mut src = MapSource::default().with("f.example", "v=spf1 include:slow.example -all");
        src.failing.push("slow.example".into());
        let (f, inc) = run("f.example", &src);
        assert_eq!(inc.len(), 1);
        assert!(!f.invalid);
    }

    #[test]
    fn hostile_include_tree_is_bounded() {
        // Each record includes two new names: exponential without the fetch cap.
        let mut src = MapSource::default();
        for i in 0..200 {
            src = src.with(
                &format!("n{i}.example"),
                &format!(
                    "v=spf1 include:n{}.example include:n{}.example -all",
                    2 * i + 1,
                    2 * i + 2
                ),
            );
        }
        let f = run("n0.example", &src).0;
        assert!(f.included.len() <= SPF_MAX_FETCHES);
        assert!(f.too_many_lookups);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "v=spf1 [ -~]{0,200}") {
            let _ = parse_spf(&s);
        }
    }
}
