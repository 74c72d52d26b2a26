//! TLS fixtures that need nothing of posture, shared by both kinds of tests: the integration
//! tests reach them through `support::tls`, the TLS probe's unit tests compile this file into
//! `src/probe/tls/tests.rs` (`#[path]`). So: std and the openssl CLI only, no `posture::` or
//! `crate::` paths.
//!
//! * `openssl s_server` for what rustls/ring cannot serve (TLS 1.0/1.1, NULL/anon suites,
//!   RSA-1024, SHA-1), with certificates made by the openssl CLI at test time;
//! * hand-made server flights (a ServerHello record, an oversized certificate chain).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

// ---------------------------------------------------------------- openssl CLI

/// `openssl s_server`, killed on drop.
pub struct OpenSsl {
    child: Child,
    pub addr: SocketAddr,
}

impl Drop for OpenSsl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the openssl CLI in `dir`; panics with its stderr on failure.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI must be installed for these tests");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `openssl s_server` with `args` on a free loopback port and waits until it accepts.
pub fn s_server(dir: &Path, args: &[&str]) -> OpenSsl {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let child = Command::new("openssl")
        .arg("s_server")
        .args(["-accept", &addr.to_string(), "-naccept", "1000"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the openssl CLI must be installed for these tests");
    let server = OpenSsl { child, addr };
    for _ in 0..250 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("openssl s_server {args:?} did not start listening on {addr}");
}

/// `openssl s_server` in `dir` with `args`, presenting the cert.pem/key.pem of
/// [`openssl_self_signed`].
pub fn s_server_self_signed(dir: &Path, args: &[&str]) -> OpenSsl {
    s_server(
        dir,
        &[args, &["-cert", "cert.pem", "-key", "key.pem"]].concat(),
    )
}

/// `openssl s_server` in `dir` with `args`, presenting the leaf.pem/leaf.key and ca.pem of
/// [`openssl_ca_and_leaf`].
pub fn s_server_ca_and_leaf(dir: &Path, args: &[&str]) -> OpenSsl {
    let chain = [
        "-cert",
        "leaf.pem",
        "-key",
        "leaf.key",
        "-cert_chain",
        "ca.pem",
    ];
    s_server(dir, &[args, &chain].concat())
}

/// An EC P-256 self-signed certificate for `cn` (cert.pem, key.pem in `dir`).
pub fn openssl_self_signed(dir: &Path, cn: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "300",
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            &format!("subjectAltName=DNS:{cn}"),
        ],
    );
}

/// A CA (RSA 2048, SHA-256, ca.pem/ca.key) and a leaf for `cn` with an RSA key of `bits`
/// signed with `digest` (leaf.pem/leaf.key), valid `days` days, in `dir`.
pub fn openssl_ca_and_leaf(dir: &Path, cn: &str, bits: u32, digest: &str, days: u32) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-sha256",
            "-subj",
            "/CN=posture test legacy CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            &format!("rsa:{bits}"),
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            &format!("/CN={cn}"),
        ],
    );
    std::fs::write(dir.join("ext.cnf"), format!("subjectAltName=DNS:{cn}\n")).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            &days.to_string(),
            &format!("-{digest}"),
            "-extfile",
            "ext.cnf",
        ],
    );
}

// ---------------------------------------------------------------- hand-made flights

/// A ServerHello record choosing `version` and `cipher` (no session id, no extensions).
pub fn server_hello(version: u16, cipher: u16) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend_from_slice(&[0x5a; 32]);
    body.push(0);
    body.extend_from_slice(&cipher.to_be_bytes());
    body.push(0);
    let mut hs = vec![2, 0, 0, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![22, (version >> 8) as u8, version as u8];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// A TLS 1.2 ServerHello (ECDHE-RSA-AES128-GCM) followed by a 100 KiB Certificate message: a
/// certificate message rustls refuses (over 64 KiB), in 16 KiB records.
pub fn oversized_chain_flight() -> Vec<u8> {
    let mut out = server_hello(0x0303, 0xc02f);
    let cert = vec![0x30u8; 1000];
    let mut list = Vec::new();
    for _ in 0..100 {
        list.extend_from_slice(&(cert.len() as u32).to_be_bytes()[1..]);
        list.extend_from_slice(&cert);
    }
    let mut msg = vec![11];
    msg.extend_from_slice(&((list.len() + 3) as u32).to_be_bytes()[1..]);
    msg.extend_from_slice(&(list.len() as u32).to_be_bytes()[1..]);
    msg.extend_from_slice(&list);
    for part in msg.chunks(16 * 1024) {
        out.extend_from_slice(&[22, 3, 3]);
        out.extend_from_slice(&(part.len() as u16).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}
