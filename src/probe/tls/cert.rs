//! X.509 certificate facts: pure functions from DER bytes (and an injected `now`) to
//! [`CertFacts`], plus the raw pieces chain logic needs (names, key identifiers, keys,
//! signatures).
//!
//! Expiry, self-signed and key facts come from x509-parser, not from WebPKI: WebPKI reports only
//! the first failure of a chain (an expired certificate hides an unknown issuer), while every
//! fact here is observed independently.

use crate::fact::tls::CertFacts;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use thiserror::Error;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::SubjectPublicKeyInfo;

/// Seconds in a day, for `days_left`.
const SECONDS_PER_DAY: i64 = 86_400;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CertError {
    #[error("certificate is not valid DER X.509: {0}")]
    Der(String),
    #[error("certificate has {0} bytes of trailing data")]
    TrailingData(usize),
}

/// The public key of a certificate, as far as signature checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    /// Named curve size in bits (256, 384, 521), 0 for an unknown curve.
    Ec(u32),
    Ed25519,
    Ed448,
    Dsa,
    Unknown,
}

/// One parsed certificate: its facts and what chain building needs.
#[derive(Debug, Clone)]
pub struct ParsedCert {
    pub facts: CertFacts,
    pub der: Vec<u8>,
    /// DER contents of the subject / issuer Name (without the SEQUENCE header, the form
    /// WebPKI trust anchors store).
    pub subject_raw: Vec<u8>,
    pub issuer_raw: Vec<u8>,
    pub subject_key_id: Option<Vec<u8>>,
    pub authority_key_id: Option<Vec<u8>>,
    pub not_before: i64,
    pub not_after: i64,
    pub dns_sans: Vec<String>,
    pub ip_sans: Vec<IpAddr>,
    pub common_name: Option<String>,
    pub key: KeyKind,
    /// The subjectPublicKey BIT STRING contents (what ring verifies with).
    pub public_key: Vec<u8>,
    pub tbs: Vec<u8>,
    pub signature_oid: String,
    pub signature: Vec<u8>,
}

impl ParsedCert {
    /// Subject and issuer names are byte-identical (RFC 5280 "self-issued").
    pub fn self_issued(&self) -> bool {
        self.subject_raw == self.issuer_raw
    }

    /// Whether `self`'s signature verifies with `issuer`'s key: `Some(true/false)`, or `None`
    /// when the algorithm is one ring cannot check (MD5, ECDSA-SHA1, DSA, RSA-PSS, unknown).
    pub fn signed_by(&self, issuer: &ParsedCert) -> Option<bool> {
        verify_signature(
            &self.signature_oid,
            &issuer.key,
            &issuer.public_key,
            &self.tbs,
            &self.signature,
        )
    }
}

/// Parse one DER certificate at `position` of a presented chain, with days computed at `now`.
pub fn parse_cert(der: &[u8], position: u32, now: OffsetDateTime) -> Result<ParsedCert, CertError> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| CertError::Der(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CertError::TrailingData(rest.len()));
    }
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();

    let mut dns_sans = Vec::new();
    let mut ip_sans = Vec::new();
    let mut sans = Vec::new();
    let mut subject_key_id = None;
    let mut authority_key_id = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(d) => {
                            dns_sans.push((*d).to_string());
                            sans.push((*d).to_string());
                        }
                        GeneralName::IPAddress(raw) => {
                            if let Some(ip) = ip_from_bytes(raw) {
                                ip_sans.push(ip);
                                sans.push(ip.to_string());
                            }
                        }
                        _ => {}
                    }
                }
            }
            ParsedExtension::SubjectKeyIdentifier(k) => subject_key_id = Some(k.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                authority_key_id = a.key_identifier.as_ref().map(|k| k.0.to_vec());
            }
            _ => {}
        }
    }

    let (key, key_bits) = key_of(cert.public_key());
    let signature_oid = cert.signature_algorithm.algorithm.to_id_string();
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);

    let mut parsed = ParsedCert {
        facts: CertFacts {
            position,
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            sans,
            serial: hex::encode(cert.raw_serial()),
            not_before: rfc3339(not_before),
            not_after: rfc3339(not_after),
            days_left: (not_after - now)
                .whole_seconds()
                .div_euclid(SECONDS_PER_DAY),
            not_yet_valid: now < not_before,
            expired: now > not_after,
            key_type: key_type_name(&key).to_string(),
            key_bits,
            signature_algorithm: signature_name(&signature_oid),
            weak_signature: false,
            self_signed: false,
            is_ca: cert.is_ca(),
            sha256: hex::encode(Sha256::digest(der)),
        },
        der: der.to_vec(),
        subject_raw: der_contents(cert.subject().as_raw()).to_vec(),
        issuer_raw: der_contents(cert.issuer().as_raw()).to_vec(),
        subject_key_id,
        authority_key_id,
        not_before: not_before.unix_timestamp(),
        not_after: not_after.unix_timestamp(),
        dns_sans,
        ip_sans,
        common_name,
        key,
        public_key: cert.public_key().subject_public_key.data.to_vec(),
        tbs: cert.tbs_certificate.as_ref().to_vec(),
        signature_oid,
        signature: cert.signature_value.data.to_vec(),
    };
    parsed.facts.self_signed = is_self_signed(&parsed);
    parsed.facts.weak_signature =
        is_weak_signature(&parsed.signature_oid) && !parsed.facts.self_signed;
    Ok(parsed)
}

/// Self-issued and its signature verifies with its own key; when ring cannot check the
/// algorithm, self-issued with consistent key identifiers (AKI absent, or equal to the SKI).
fn is_self_signed(c: &ParsedCert) -> bool {
    if !c.self_issued() {
        return false;
    }
    match c.signed_by(c) {
        Some(ok) => ok,
        None => match (&c.authority_key_id, &c.subject_key_id) {
            (Some(aki), Some(ski)) => aki == ski,
            _ => true,
        },
    }
}

/// The presented certificate that expires first (ties: the earliest position).
pub fn earliest(chain: &[CertFacts]) -> Option<CertFacts> {
    chain
        .iter()
        .min_by(|a, b| {
            a.not_after
                .cmp(&b.not_after)
                .then(a.position.cmp(&b.position))
        })
        .cloned()
}

fn rfc3339(t: OffsetDateTime) -> String {
    // Certificate times are UTC with second precision; formatting cannot fail for them, but a
    // year outside 0..=9999 (GeneralizedTime allows it) falls back to the unix timestamp.
    t.format(&Rfc3339)
        .unwrap_or_else(|_| format!("@{}", t.unix_timestamp()))
}

fn ip_from_bytes(raw: &[u8]) -> Option<IpAddr> {
    match raw.len() {
        4 => <[u8; 4]>::try_from(raw).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(raw).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Strip the tag and length of a DER TLV, returning its contents (the input unchanged when it
/// is not a well-formed single TLV).
pub fn der_contents(tlv: &[u8]) -> &[u8] {
    let Some(&len0) = tlv.get(1) else {
        return tlv;
    };
    let (len, header) = if len0 < 0x80 {
        (len0 as usize, 2)
    } else {
        let n = (len0 & 0x7f) as usize;
        if n == 0 || n > 4 || tlv.len() < 2 + n {
            return tlv;
        }
        let len = tlv[2..2 + n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, 2 + n)
    };
    match tlv.get(header..header + len) {
        Some(contents) if header + len == tlv.len() => contents,
        _ => tlv,
    }
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_RSA_PSS: &str = "1.2.840.113549.1.1.10";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_ED448: &str = "1.3.101.113";
const OID_DSA: &str = "1.2.840.10040.4.1";

fn key_of(spki: &SubjectPublicKeyInfo<'_>) -> (KeyKind, u32) {
    let alg = spki.algorithm.algorithm.to_id_string();
    let key = &spki.subject_public_key.data;
    match alg.as_str() {
        OID_RSA | OID_RSA_PSS => {
            let bits = match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => integer_bits(rsa.modulus),
                _ => 0,
            };
            (KeyKind::Rsa, bits)
        }
        OID_EC => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            let bits = match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") | Some("1.3.132.0.10") => 256,
                Some("1.3.132.0.34") => 384,
                Some("1.3.132.0.35") => 521,
                Some("1.2.840.10045.3.1.1") => 192,
                Some("1.3.132.0.33") => 224,
                _ => 0,
            };
            (KeyKind::Ec(bits), bits)
        }
        OID_ED25519 => (KeyKind::Ed25519, 256),
        OID_ED448 => (KeyKind::Ed448, 448),
        OID_DSA => {
            let bits = match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::DSA(y)) => integer_bits(y),
                _ => 0,
            };
            (KeyKind::Dsa, bits)
        }
        _ => (KeyKind::Unknown, (key.len() * 8) as u32),
    }
}

/// Bit length of a big-endian unsigned integer (leading zero bytes and bits not counted).
/// x509-parser's own `key_size` assumes a leading zero byte, which a 2047-bit modulus lacks.
fn integer_bits(be: &[u8]) -> u32 {
    let trimmed: &[u8] = match be.iter().position(|b| *b != 0) {
        Some(i) => &be[i..],
        None => return 0,
    };
    (trimmed.len() as u32 - 1) * 8 + (8 - trimmed[0].leading_zeros())
}

fn key_type_name(k: &KeyKind) -> &'static str {
    match k {
        KeyKind::Rsa => "rsa",
        KeyKind::Ec(_) => "ec",
        KeyKind::Ed25519 => "ed25519",
        KeyKind::Ed448 => "ed448",
        KeyKind::Dsa => "dsa",
        KeyKind::Unknown => "unknown",
    }
}

/// Friendly names of certificate signature algorithms (OpenSSL's spelling), by OID.
const SIGNATURE_NAMES: &[(&str, &str, bool)] = &[
    // (oid, name, weak hash)
    ("1.2.840.113549.1.1.2", "md2WithRSAEncryption", true),
    ("1.2.840.113549.1.1.3", "md4WithRSAEncryption", true),
    ("1.2.840.113549.1.1.4", "md5WithRSAEncryption", true),
    ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption", true),
    ("1.3.14.3.2.29", "sha1WithRSAEncryption", true),
    ("1.2.840.113549.1.1.10", "rsassaPss", false),
    ("1.2.840.113549.1.1.11", "sha256WithRSAEncryption", false),
    ("1.2.840.113549.1.1.12", "sha384WithRSAEncryption", false),
    ("1.2.840.113549.1.1.13", "sha512WithRSAEncryption", false),
    ("1.2.840.113549.1.1.14", "sha224WithRSAEncryption", false),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1", true),
    ("1.2.840.10045.4.3.1", "ecdsa-with-SHA224", false),
    ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256", false),
    ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384", false),
    ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512", false),
    ("1.2.840.10040.4.3", "dsa-with-SHA1", true),
    ("2.16.840.1.101.3.4.3.2", "dsa-with-SHA256", false),
    ("1.3.101.112", "ed25519", false),
    ("1.3.101.113", "ed448", false),
];

fn signature_name(oid: &str) -> String {
    SIGNATURE_NAMES
        .iter()
        .find(|(o, _, _)| *o == oid)
        .map(|(_, n, _)| (*n).to_string())
        .unwrap_or_else(|| oid.to_string())
}

/// MD2, MD4, MD5 and SHA-1 signatures: collisions are practical (SHAttered, Flame), so a CA
/// signature with them no longer binds the certificate.
pub fn is_weak_signature(oid: &str) -> bool {
    SIGNATURE_NAMES
        .iter()
        .any(|(o, _, weak)| *o == oid && *weak)
}

/// Verify `signature` over `message` with a key, for the certificate signature algorithm
/// `sig_oid`. RSA keys from 1024 bits are accepted on purpose: this decides "who signed this",
/// not "is this strong enough" (key size is its own fact). `None`: ring cannot check it.
pub fn verify_signature(
    sig_oid: &str,
    key: &KeyKind,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Option<bool> {
    use ring::signature as s;
    let alg: &'static dyn s::VerificationAlgorithm = match (sig_oid, key) {
        ("1.2.840.113549.1.1.5" | "1.3.14.3.2.29", KeyKind::Rsa) => {
            &s::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY
        }
        ("1.2.840.113549.1.1.11", KeyKind::Rsa) => {
            &s::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
        }
        ("1.2.840.113549.1.1.12", KeyKind::Rsa) => &s::RSA_PKCS1_2048_8192_SHA384,
        ("1.2.840.113549.1.1.13", KeyKind::Rsa) => {
            &s::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
        }
        ("1.2.840.10045.4.3.2", KeyKind::Ec(256)) => &s::ECDSA_P256_SHA256_ASN1,
        ("1.2.840.10045.4.3.2", KeyKind::Ec(384)) => &s::ECDSA_P384_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", KeyKind::Ec(256)) => &s::ECDSA_P256_SHA384_ASN1,
        ("1.2.840.10045.4.3.3", KeyKind::Ec(384)) => &s::ECDSA_P384_SHA384_ASN1,
        ("1.3.101.112", KeyKind::Ed25519) => &s::ED25519,
        _ => return None,
    };
    Some(
        s::UnparsedPublicKey::new(alg, public_key)
            .verify(message, signature)
            .is_ok(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_ECDSA_P384_SHA384,
        PKCS_ED25519,
    };
    use time::Duration;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
    }

    fn leaf(not_before: OffsetDateTime, not_after: OffsetDateTime) -> (Vec<u8>, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["a.example".into(), "10.0.0.1".into()]).unwrap();
        p.not_before = not_before;
        p.not_after = not_after;
        p.distinguished_name.push(DnType::CommonName, "a.example");
        (p.self_signed(&key).unwrap().der().to_vec(), key)
    }

    #[test]
    fn days_left_floors_and_goes_negative() {
        let n = now();
        let (der, _) = leaf(
            n - Duration::days(10),
            n + Duration::days(10) - Duration::hours(1),
        );
        let c = parse_cert(&der, 0, n).unwrap();
        assert_eq!(c.facts.days_left, 9);
        assert!(!c.facts.expired && !c.facts.not_yet_valid);

        let (der, _) = leaf(n - Duration::days(10), n - Duration::hours(1));
        let c = parse_cert(&der, 0, n).unwrap();
        assert_eq!(c.facts.days_left, -1);
        assert!(c.facts.expired);

        let (der, _) = leaf(n + Duration::days(2), n + Duration::days(20));
        let c = parse_cert(&der, 0, n).unwrap();
        assert!(c.facts.not_yet_valid && !c.facts.expired);
        assert_eq!(c.facts.days_left, 20);
    }

    #[test]
    fn facts_of_a_self_signed_p256_leaf() {
        let n = now();
        let (der, _) = leaf(n - Duration::days(1), n + Duration::days(1));
        let c = parse_cert(&der, 0, n).unwrap();
        assert_eq!(c.facts.sans, ["a.example", "10.0.0.1"]);
        assert_eq!(c.dns_sans, ["a.example"]);
        assert_eq!(c.ip_sans, [IpAddr::from([10, 0, 0, 1])]);
        assert_eq!(c.common_name.as_deref(), Some("a.example"));
        assert_eq!(c.facts.key_type, "ec");
        assert_eq!(c.facts.key_bits, 256);
        assert_eq!(c.facts.signature_algorithm, "ecdsa-with-SHA256");
        assert!(c.facts.self_signed);
        assert!(!c.facts.weak_signature);
        assert!(!c.facts.is_ca);
        assert_eq!(c.facts.sha256, hex::encode(Sha256::digest(&der)));
        assert_eq!(c.facts.sha256.len(), 64);
        assert!(c.facts.not_after.ends_with('Z'), "{}", c.facts.not_after);
        assert!(
            c.facts.subject.contains("CN=a.example"),
            "{}",
            c.facts.subject
        );
        // The raw subject is the Name's contents, starting with a SET (0x31) of the first RDN.
        assert_eq!(c.subject_raw[0], 0x31);
    }

    #[test]
    fn issued_certificate_is_not_self_signed_and_verifies_under_its_issuer() {
        let n = now();
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "Test CA");
        let ca_der = ca.self_signed(&ca_key).unwrap().der().to_vec();
        let issuer = Issuer::new(ca, ca_key);

        let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
        let mut p = CertificateParams::new(vec!["b.example".into()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, "b.example");
        let der = p.signed_by(&key, &issuer).unwrap().der().to_vec();

        let ca = parse_cert(&ca_der, 1, n).unwrap();
        let c = parse_cert(&der, 0, n).unwrap();
        assert!(ca.facts.is_ca && ca.facts.self_signed);
        assert_eq!(ca.facts.key_bits, 384);
        assert!(!c.facts.self_signed);
        assert_eq!(c.facts.key_type, "ed25519");
        assert_eq!(c.facts.signature_algorithm, "ecdsa-with-SHA384");
        assert_eq!(c.issuer_raw, ca.subject_raw);
        assert_eq!(c.signed_by(&ca), Some(true));
        // An Ed25519 key cannot check an ECDSA signature: unknown, not false.
        assert_eq!(ca.signed_by(&c), None);
        // Another P-384 key: a real mismatch.
        let other_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let mut other = CertificateParams::new(Vec::<String>::new()).unwrap();
        other.distinguished_name.push(DnType::CommonName, "Test CA");
        let other = parse_cert(other.self_signed(&other_key).unwrap().der(), 1, n).unwrap();
        assert_eq!(c.signed_by(&other), Some(false));
    }

    #[test]
    fn earliest_picks_the_first_to_expire() {
        let mk = |position, not_after: &str| CertFacts {
            position,
            not_after: not_after.into(),
            ..Default::default()
        };
        let chain = [
            mk(0, "2030-01-01T00:00:00Z"),
            mk(1, "2029-01-01T00:00:00Z"),
            mk(2, "2029-01-01T00:00:00Z"),
        ];
        assert_eq!(earliest(&chain).unwrap().position, 1);
        assert!(earliest(&[]).is_none());
    }

    #[test]
    fn weak_signature_names() {
        assert!(is_weak_signature("1.2.840.113549.1.1.5"));
        assert!(is_weak_signature("1.2.840.113549.1.1.4"));
        assert!(is_weak_signature("1.2.840.10045.4.1"));
        assert!(!is_weak_signature("1.2.840.113549.1.1.11"));
        assert_eq!(signature_name("1.2.3.4"), "1.2.3.4");
    }

    #[test]
    fn integer_bits_counts_significant_bits() {
        assert_eq!(integer_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(integer_bits(&[0x7f, 0xff]), 15);
        assert_eq!(integer_bits(&[0, 0]), 0);
        assert_eq!(integer_bits(&[]), 0);
    }

    #[test]
    fn der_contents_strips_short_and_long_headers() {
        assert_eq!(der_contents(&[0x30, 0x02, 0xaa, 0xbb]), &[0xaa, 0xbb]);
        let mut long = vec![0x30, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 0x80));
        assert_eq!(der_contents(&long).len(), 0x80);
        // Not a single well-formed TLV: returned unchanged.
        assert_eq!(der_contents(&[0x30, 0x05, 0x01]), &[0x30, 0x05, 0x01]);
        assert_eq!(der_contents(&[0x30]), &[0x30]);
    }

    proptest::proptest! {
        #[test]
        fn cert_parser_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = parse_cert(&bytes, 0, OffsetDateTime::UNIX_EPOCH);
            let _ = der_contents(&bytes);
        }

        /// Flipping bytes of a real certificate (DER that is almost valid) never panics either.
        #[test]
        fn mutated_certificates_never_panic(flips in proptest::collection::vec((0usize..4096, proptest::prelude::any::<u8>()), 1..8)) {
            use std::sync::OnceLock;
            static DER: OnceLock<Vec<u8>> = OnceLock::new();
            let der = DER.get_or_init(|| {
                let n = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
                leaf(n, n + Duration::days(30)).0
            });
            let mut m = der.clone();
            for (i, b) in flips {
                let len = m.len();
                m[i % len] = b;
            }
            let _ = parse_cert(&m, 0, OffsetDateTime::UNIX_EPOCH);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            parse_cert(b"\x30\x03abc", 0, now()),
            Err(CertError::Der(_))
        ));
        assert!(parse_cert(&[], 0, now()).is_err());
    }
}
