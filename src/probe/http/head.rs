//! Pure HTTP/1.x response parsing: the response head (status line + header fields) and the
//! body framing (Content-Length, chunked, until close), per RFC 9112.
//!
//! Nothing here does I/O. The parser is lenient where browsers are (bare LF line ends,
//! obsolete line folding, a missing reason phrase, malformed field lines skipped) and strict
//! where leniency would misreport the server (a response must start with `HTTP/` and a
//! three-digit status). Counts are capped by the caller's limits so a hostile head costs at
//! most `http_head_bytes` of memory and `http_headers` kept fields.

use thiserror::Error;

/// What a response head says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseHead {
    /// `HTTP/1.1`, `HTTP/1.0`.
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// Header fields in order: lowercase name, value with surrounding whitespace removed.
    pub fields: Vec<(String, String)>,
    /// Well-formed fields beyond the kept count.
    pub fields_dropped: usize,
    /// Field lines that were not `name: value` and were skipped.
    pub malformed_lines: usize,
}

impl ResponseHead {
    /// The first value of field `name` (lowercase).
    pub fn first(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All values of field `name` joined with ", " (RFC 9110 §5.3), `None` when absent.
    pub fn joined(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    /// 1xx responses other than 101 are interim: the final response follows (RFC 9110 §15.2).
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeadError {
    #[error("the response is not HTTP (it starts with {0:?})")]
    NotHttp(String),
    #[error("malformed status line {0:?}")]
    BadStatusLine(String),
}

/// Bytes of a non-HTTP answer quoted in errors.
const QUOTE_MAX: usize = 32;

/// Leading blank lines some broken servers send before the status line; skipped (bounded by
/// the head cap the caller enforces).
fn skip_leading_newlines(buf: &[u8]) -> &[u8] {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    &buf[start..]
}

/// Whether `buf` can still be (the start of) an HTTP response. Lets the reader give up on a
/// garbage answer after its first bytes instead of waiting for a head cap or a timeout.
pub fn could_be_http(buf: &[u8]) -> Result<(), HeadError> {
    const MAGIC: &[u8] = b"HTTP/";
    let buf = skip_leading_newlines(buf);
    let n = buf.len().min(MAGIC.len());
    if buf[..n] == MAGIC[..n] {
        Ok(())
    } else {
        Err(HeadError::NotHttp(quote(buf)))
    }
}

fn quote(buf: &[u8]) -> String {
    String::from_utf8_lossy(&buf[..buf.len().min(QUOTE_MAX)]).into_owned()
}

/// The length of the head at the start of `buf`, terminator included (`\r\n\r\n` or a bare
/// `\n\n`, mixed forms too), or `None` when the blank line has not arrived yet.
pub fn find_head_end(buf: &[u8]) -> Option<usize> {
    let skipped = buf.len() - skip_leading_newlines(buf).len();
    let body = &buf[skipped..];
    let mut i = 0;
    while let Some(off) = body[i..].iter().position(|&b| b == b'\n') {
        let nl = i + off;
        let after = &body[nl + 1..];
        if after.first() == Some(&b'\n') {
            return Some(skipped + nl + 2);
        }
        if after.starts_with(b"\r\n") {
            return Some(skipped + nl + 3);
        }
        i = nl + 1;
    }
    None
}

/// The prefix of `buf` made of complete lines: what is kept of a head cut by the size cap.
pub fn complete_lines(buf: &[u8]) -> &[u8] {
    match buf.iter().rposition(|&b| b == b'\n') {
        Some(i) => &buf[..=i],
        None => &[],
    }
}

/// tchar of RFC 9110 §5.6.2: the characters of a field name.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &s[start..end.max(start)]
}

/// Parse a response head (status line and field lines; a trailing blank line is optional, so
/// a head cut at the size cap parses too). Keeps at most `max_fields` fields.
pub fn parse_head(head: &[u8], max_fields: usize) -> Result<ResponseHead, HeadError> {
    let head = skip_leading_newlines(head);
    could_be_http(head)?;
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    let mut out = parse_status_line(status_line)?;
    // Whether the last field line was kept, so an obs-fold continuation joins the right field.
    let mut last_kept = false;
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            // Obsolete line folding (RFC 9112 §5.2): replace the fold with a space.
            if last_kept {
                if let Some((_, value)) = out.fields.last_mut() {
                    let more = String::from_utf8_lossy(trim_ows(line));
                    if !more.is_empty() {
                        value.push(' ');
                        value.push_str(&more);
                    }
                }
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            out.malformed_lines += 1;
            last_kept = false;
            continue;
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            out.malformed_lines += 1;
            last_kept = false;
            continue;
        }
        if out.fields.len() >= max_fields {
            out.fields_dropped += 1;
            last_kept = false;
            continue;
        }
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        let value = String::from_utf8_lossy(trim_ows(&line[colon + 1..])).into_owned();
        out.fields.push((name, value));
        last_kept = true;
    }
    Ok(out)
}

fn parse_status_line(line: &[u8]) -> Result<ResponseHead, HeadError> {
    let bad = || HeadError::BadStatusLine(quote(line));
    let mut parts = line.splitn(3, |&b| b == b' ');
    let version = parts.next().ok_or_else(bad)?;
    let code = parts.next().ok_or_else(bad)?;
    let reason = parts.next().unwrap_or_default();
    let version_ok = version.len() == 8
        && version.starts_with(b"HTTP/")
        && version[5].is_ascii_digit()
        && version[6] == b'.'
        && version[7].is_ascii_digit();
    if !version_ok || code.len() != 3 || !code.iter().all(u8::is_ascii_digit) || code[0] == b'0' {
        return Err(bad());
    }
    let status = code
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    Ok(ResponseHead {
        version: String::from_utf8_lossy(version).into_owned(),
        status,
        reason: String::from_utf8_lossy(trim_ows(reason)).into_owned(),
        ..ResponseHead::default()
    })
}

/// How the body of a response to a GET is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: 1xx, 204, 304.
    Empty,
    Length(u64),
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

impl Framing {
    pub fn of(head: &ResponseHead) -> Framing {
        if head.status < 200 || head.status == 204 || head.status == 304 {
            return Framing::Empty;
        }
        if let Some(te) = head.joined("transfer-encoding") {
            // Chunked must be the final coding; any other final coding means "until close".
            let last = te.rsplit(',').next().unwrap_or_default().trim();
            return if last.eq_ignore_ascii_case("chunked") {
                Framing::Chunked
            } else {
                Framing::UntilClose
            };
        }
        match head.joined("content-length") {
            Some(cl) => {
                // Repeated identical values ("5, 5") are allowed; differing ones are invalid.
                let mut values = cl.split(',').map(str::trim);
                let first = values.next().unwrap_or_default();
                match first.parse::<u64>() {
                    Ok(n) if values.all(|v| v == first) => Framing::Length(n),
                    _ => Framing::UntilClose,
                }
            }
            None => Framing::UntilClose,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BodyError {
    #[error("malformed chunk size line")]
    BadChunkSize,
    #[error("chunk size line longer than {CHUNK_LINE_MAX} bytes")]
    ChunkLineTooLong,
    #[error("missing CRLF after chunk data")]
    BadChunkEnd,
}

/// Longest chunk-size line (with extensions) or trailer line accepted.
const CHUNK_LINE_MAX: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
}

/// Counts body bytes as they arrive, decoding chunked framing, and says when to stop reading:
/// the body is complete or more than `cap` bytes of it were seen.
#[derive(Debug, Clone)]
pub struct BodyCounter {
    framing: Framing,
    cap: u64,
    data: u64,
    complete: bool,
    chunk: ChunkState,
    line: Vec<u8>,
}

impl BodyCounter {
    pub fn new(framing: Framing, cap: usize) -> BodyCounter {
        BodyCounter {
            framing,
            cap: cap as u64,
            data: 0,
            complete: matches!(framing, Framing::Empty | Framing::Length(0)),
            chunk: ChunkState::Size,
            line: Vec::new(),
        }
    }

    /// Body bytes counted, at most the cap.
    pub fn bytes(&self) -> u64 {
        self.data.min(self.cap)
    }

    /// More body than the cap was seen.
    pub fn truncated(&self) -> bool {
        self.data > self.cap
    }

    /// The framing says the body is complete.
    pub fn complete(&self) -> bool {
        self.complete
    }

    /// Stop reading: complete, or over the cap.
    pub fn done(&self) -> bool {
        self.complete || self.truncated()
    }

    /// The connection closed: fine for an until-close body, a cut body otherwise.
    pub fn eof_is_clean(&self) -> bool {
        self.complete || self.framing == Framing::UntilClose
    }

    /// Account for `input`, the next bytes after the head.
    pub fn feed(&mut self, input: &[u8]) -> Result<(), BodyError> {
        match self.framing {
            Framing::Empty => Ok(()),
            Framing::UntilClose => {
                self.data = self.data.saturating_add(input.len() as u64);
                Ok(())
            }
            Framing::Length(n) => {
                let take = (n - self.data.min(n)).min(input.len() as u64);
                self.data += take;
                self.complete = self.data >= n;
                Ok(())
            }
            Framing::Chunked => self.feed_chunked(input),
        }
    }

    fn feed_chunked(&mut self, mut input: &[u8]) -> Result<(), BodyError> {
        while !input.is_empty() && !self.done() {
            match self.chunk {
                ChunkState::Data(left) => {
                    let take = left.min(input.len() as u64);
                    self.data = self.data.saturating_add(take);
                    input = &input[take as usize..];
                    self.chunk = if take == left {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left - take)
                    };
                }
                ChunkState::Size | ChunkState::DataEnd | ChunkState::Trailer => {
                    let Some(nl) = input.iter().position(|&b| b == b'\n') else {
                        self.push_line(input)?;
                        return Ok(());
                    };
                    self.push_line(&input[..nl])?;
                    input = &input[nl + 1..];
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    self.end_line(line)?;
                }
            }
        }
        Ok(())
    }

    fn push_line(&mut self, part: &[u8]) -> Result<(), BodyError> {
        if self.line.len() + part.len() > CHUNK_LINE_MAX {
            return Err(BodyError::ChunkLineTooLong);
        }
        self.line.extend_from_slice(part);
        Ok(())
    }

    fn end_line(&mut self, line: &[u8]) -> Result<(), BodyError> {
        match self.chunk {
            ChunkState::Size => {
                let size = line.split(|&b| b == b';').next().unwrap_or_default();
                let size = trim_ows(size);
                if size.is_empty() || size.len() > 16 || !size.iter().all(u8::is_ascii_hexdigit) {
                    return Err(BodyError::BadChunkSize);
                }
                let n = size.iter().fold(0u64, |acc, &d| {
                    acc * 16 + u64::from((d as char).to_digit(16).unwrap_or(0))
                });
                self.chunk = if n == 0 {
                    ChunkState::Trailer
                } else {
                    ChunkState::Data(n)
                };
            }
            ChunkState::DataEnd => {
                if !line.is_empty() {
                    return Err(BodyError::BadChunkEnd);
                }
                self.chunk = ChunkState::Size;
            }
            ChunkState::Trailer => {
                if line.is_empty() {
                    self.complete = true;
                }
            }
            ChunkState::Data(_) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_typical_head() {
        let head = b"HTTP/1.1 301 Moved Permanently\r\nServer: nginx/1.18.0\r\nLocation: https://a.test/\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n";
        assert_eq!(find_head_end(head), Some(head.len()));
        let h = parse_head(head, 100).unwrap();
        assert_eq!(h.version, "HTTP/1.1");
        assert_eq!(h.status, 301);
        assert_eq!(h.reason, "Moved Permanently");
        assert_eq!(h.first("server"), Some("nginx/1.18.0"));
        assert_eq!(h.joined("set-cookie").as_deref(), Some("a=1, b=2"));
        assert_eq!(h.joined("missing"), None);
        assert_eq!(h.fields_dropped, 0);
    }

    #[test]
    fn status_lines() {
        let cases: &[(&[u8], Option<u16>)] = &[
            (b"HTTP/1.0 200 OK", Some(200)),
            (b"HTTP/1.1 204", Some(204)),
            (b"HTTP/1.1 404 ", Some(404)),
            (b"HTTP/1.1 200 OK with spaces", Some(200)),
            (b"HTTP/1.1 20 OK", None),
            (b"HTTP/1.1 2000 OK", None),
            (b"HTTP/1.1 099 OK", None),
            (b"HTTP/1.1 abc OK", None),
            (b"HTTP/11 200 OK", None),
            (b"HTTP/1.1", None),
            (b"HTTP/", None),
        ];
        for (line, want) in cases {
            let got = parse_head(line, 10).ok().map(|h| h.status);
            assert_eq!(got, *want, "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn lenient_lines() {
        // Bare LF, a fold, a malformed line, spaces around the value, leading blank line.
        let head =
            b"\r\nHTTP/1.1 200 OK\nX-A:  one \n  two\nnot a field\n: empty\nBad Name: x\nX-B:\n\n";
        assert_eq!(find_head_end(head), Some(head.len()));
        let h = parse_head(head, 100).unwrap();
        assert_eq!(h.first("x-a"), Some("one two"));
        assert_eq!(h.first("x-b"), Some(""));
        assert_eq!(h.malformed_lines, 3);
    }

    #[test]
    fn field_cap_keeps_the_first() {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..10 {
            head.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let h = parse_head(&head, 4).unwrap();
        assert_eq!(h.fields.len(), 4);
        assert_eq!(h.fields_dropped, 6);
        assert_eq!(h.fields[3], ("x-3".to_string(), "3".to_string()));
    }

    #[test]
    fn garbage_is_rejected_early() {
        assert!(could_be_http(b"").is_ok());
        assert!(could_be_http(b"HT").is_ok());
        assert!(could_be_http(b"\r\nHTTP/1.1").is_ok());
        assert!(matches!(
            could_be_http(b"SSH-2.0-OpenSSH"),
            Err(HeadError::NotHttp(_))
        ));
        assert!(could_be_http(b"\x16\x03\x01").is_err());
        assert!(parse_head(b"<html>hello</html>\r\n\r\n", 10).is_err());
    }

    #[test]
    fn head_end_and_cut_heads() {
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n"), None);
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\r\n\r\nbody"), Some(19));
        let cut = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: partial val";
        let h = parse_head(complete_lines(cut), 10).unwrap();
        assert_eq!(h.fields.len(), 1);
        assert_eq!(complete_lines(b"no newline"), b"");
    }

    fn head_with(fields: &str, status: u16) -> ResponseHead {
        parse_head(
            format!("HTTP/1.1 {status} X\r\n{fields}\r\n").as_bytes(),
            100,
        )
        .unwrap()
    }

    #[test]
    fn framing_table() {
        let cases = [
            ("", 200, Framing::UntilClose),
            ("", 204, Framing::Empty),
            ("", 304, Framing::Empty),
            ("", 103, Framing::Empty),
            ("Content-Length: 10\r\n", 200, Framing::Length(10)),
            (
                "Content-Length: 5\r\nContent-Length: 5\r\n",
                200,
                Framing::Length(5),
            ),
            (
                "Content-Length: 5\r\nContent-Length: 6\r\n",
                200,
                Framing::UntilClose,
            ),
            ("Content-Length: -1\r\n", 200, Framing::UntilClose),
            ("Transfer-Encoding: chunked\r\n", 200, Framing::Chunked),
            (
                "Transfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n",
                200,
                Framing::Chunked,
            ),
            ("Transfer-Encoding: gzip\r\n", 200, Framing::UntilClose),
        ];
        for (fields, status, want) in cases {
            assert_eq!(Framing::of(&head_with(fields, status)), want, "{fields}");
        }
        assert!(head_with("", 100).is_interim());
        assert!(!head_with("", 101).is_interim());
    }

    #[test]
    fn length_body_counts_and_caps() {
        let mut b = BodyCounter::new(Framing::Length(5), 100);
        b.feed(b"abc").unwrap();
        assert!(!b.done());
        b.feed(b"defgh").unwrap();
        assert!(b.complete() && !b.truncated());
        assert_eq!(b.bytes(), 5);

        let mut b = BodyCounter::new(Framing::Length(1000), 4);
        b.feed(b"abcdef").unwrap();
        assert!(b.done() && b.truncated() && !b.complete());
        assert_eq!(b.bytes(), 4);
        assert!(!b.eof_is_clean());
    }

    #[test]
    fn chunked_body_in_any_split() {
        let wire =
            b"4;ext=1\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\n";
        for split in 0..wire.len() {
            let mut b = BodyCounter::new(Framing::Chunked, 1000);
            b.feed(&wire[..split]).unwrap();
            b.feed(&wire[split..]).unwrap();
            assert!(b.complete(), "split {split}");
            assert_eq!(b.bytes(), 24, "split {split}");
        }
        // One byte at a time.
        let mut b = BodyCounter::new(Framing::Chunked, 1000);
        for byte in wire {
            b.feed(std::slice::from_ref(byte)).unwrap();
        }
        assert!(b.complete());
    }

    #[test]
    fn chunked_errors_and_cap() {
        let mut b = BodyCounter::new(Framing::Chunked, 1000);
        assert_eq!(b.feed(b"zz\r\n"), Err(BodyError::BadChunkSize));
        let mut b = BodyCounter::new(Framing::Chunked, 1000);
        assert_eq!(b.feed(b"2\r\nabX\r\n"), Err(BodyError::BadChunkEnd));
        let mut b = BodyCounter::new(Framing::Chunked, 1000);
        assert_eq!(
            b.feed(&[b'1'; CHUNK_LINE_MAX + 1]),
            Err(BodyError::ChunkLineTooLong)
        );
        let mut b = BodyCounter::new(Framing::Chunked, 1000);
        assert_eq!(
            b.feed(b"11111111111111111\r\n"),
            Err(BodyError::BadChunkSize)
        );
        let mut b = BodyCounter::new(Framing::Chunked, 3);
        b.feed(b"ffffffff\r\nabcdef").unwrap();
        assert!(b.truncated() && b.done());
        assert_eq!(b.bytes(), 3);
    }

    #[test]
    fn until_close_counts_everything() {
        let mut b = BodyCounter::new(Framing::UntilClose, 4);
        b.feed(b"ab").unwrap();
        assert!(!b.done() && b.eof_is_clean());
        b.feed(b"cde").unwrap();
        assert!(b.truncated());
        let b = BodyCounter::new(Framing::Empty, 4);
        assert!(b.complete() && b.done());
    }
}

#[cfg(test)]
mod prop_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary server bytes never panic the head parser or the body counter.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), cap in 0usize..64) {
            let _ = could_be_http(&bytes);
            if let Some(end) = find_head_end(&bytes) {
                prop_assert!(end <= bytes.len());
            }
            if let Ok(h) = parse_head(complete_lines(&bytes), 4) {
                prop_assert!(h.fields.len() <= 4);
                let _ = Framing::of(&h);
            }
            for framing in [Framing::Chunked, Framing::UntilClose, Framing::Length(100)] {
                let mut counter = BodyCounter::new(framing, cap);
                let _ = counter.feed(&bytes);
                prop_assert!(counter.bytes() <= cap as u64);
            }
        }

        /// Any well-formed head with printable fields round-trips.
        #[test]
        fn well_formed_heads_parse(status in 100u16..1000, fields in proptest::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,15}", "[ -~]{0,30}"), 0..20)) {
            let mut head = format!("HTTP/1.1 {status} Reason\r\n");
            for (n, v) in &fields {
                head.push_str(&format!("{n}: {v}\r\n"));
            }
            head.push_str("\r\n");
            prop_assert_eq!(find_head_end(head.as_bytes()), Some(head.len()));
            let h = parse_head(head.as_bytes(), 100).unwrap();
            prop_assert_eq!(h.status, status);
            prop_assert_eq!(h.fields.len(), fields.len());
            for ((n, v), (pn, pv)) in fields.iter().zip(&h.fields) {
                prop_assert_eq!(&n.to_ascii_lowercase(), pn);
                prop_assert_eq!(v.trim_matches(' '), pv);
            }
        }
    }
}

#[cfg(test)]
mod fixture_tests {
    //! Heads captured from real servers (fixtures/http/README.md).
    use super::*;

    fn split(bytes: &[u8]) -> (ResponseHead, &[u8]) {
        let end = find_head_end(bytes).expect("complete head");
        (parse_head(&bytes[..end], 100).unwrap(), &bytes[end..])
    }

    fn body_len(head: &ResponseHead, body: &[u8]) -> (u64, bool) {
        let mut counter = BodyCounter::new(Framing::of(head), 64 * 1024);
        counter.feed(body).unwrap();
        (counter.bytes(), counter.complete())
    }

    #[test]
    fn nginx_redirect() {
        let (head, body) = split(include_bytes!(
            "../../../fixtures/http/nginx-1.22.1-redirect-301.bin"
        ));
        assert_eq!((head.version.as_str(), head.status), ("HTTP/1.1", 301));
        assert_eq!(head.reason, "Moved Permanently");
        assert_eq!(head.first("server"), Some("nginx/1.22.1"));
        assert_eq!(head.first("location"), Some("https://shop.test:18443/"));
        assert_eq!(head.fields.len(), 6);
        assert_eq!(Framing::of(&head), Framing::Length(169));
        assert_eq!(body_len(&head, body), (169, true));
    }

    #[test]
    fn nginx_hardened_https() {
        let (head, body) = split(include_bytes!(
            "../../../fixtures/http/nginx-1.22.1-https-hardened-200.bin"
        ));
        assert_eq!(head.status, 200);
        assert_eq!(head.first("server"), Some("nginx"));
        assert_eq!(
            head.first("strict-transport-security"),
            Some("max-age=63072000; includeSubDomains; preload")
        );
        assert_eq!(body_len(&head, body), (15, true));
    }

    #[test]
    fn python_http_server_http10() {
        let (head, body) = split(include_bytes!(
            "../../../fixtures/http/python-3.11-http.server-200.bin"
        ));
        assert_eq!((head.version.as_str(), head.status), ("HTTP/1.0", 200));
        assert_eq!(head.first("server"), Some("SimpleHTTP/0.6 Python/3.11.7"));
        // Field names are case-insensitive: Python sends "Content-type".
        assert_eq!(head.first("content-type"), Some("text/html"));
        assert_eq!(body_len(&head, body), (3, true));
    }
}
