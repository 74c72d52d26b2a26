//! Real remote-access and legacy services, the ones `port.risky-service` exists for, set up the
//! way Debian admins run them: Samba's smbd (SMB on 445, NetBIOS sessions on 139), xrdp (RDP),
//! TigerVNC (RFB, with no authentication and with a VNC password), the rsync daemon (an open
//! module, and one with `auth users`), Xvfb listening on TCP (access control off with `-ac`,
//! and a display that requires an MIT-MAGIC-COOKIE), rpcbind and CUPS. posture must name each
//! one from what it says on the wire (as `nmap -sV` does: `microsoft-ds`, `netbios-ssn`,
//! `ms-wbt-server`, `vnc`, `rsync`, `X11`, `rpcbind`, `ipp`), fire `port.risky-service` on
//! every one the rule lists and on nothing else, and invent no TLS or HTTP where none is.
//!
//! Every server runs in the foreground as a child of the test, on loopback, with its
//! configuration in a temp dir. The conventional ports (445, 139, 3389, 5900, 5901, 873, 6000,
//! 6001, 111, 631) are used inside a private network and mount namespace (`unshare --net
//! --mount`, with its own /tmp and /run): Xvfb and rpcbind cannot be told to listen on
//! loopback only, and X displays :0 and :1 (ports 6000 and 6001) and rpcbind's socket must not
//! clash with anything on the host.
//!
//! Needs root and the Debian packages `samba`, `xrdp`, `tigervnc-standalone-server`,
//! `tigervnc-tools`, `rsync`, `xvfb`, `rpcbind`, `cups-daemon` (plus `openssl`, `iproute2`,
//! `util-linux`).

use crate::support::free_port;
use crate::support::servers::binary;
use crate::support::tls::{incomplete, scan, subjects};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// A server process, stopped on drop: SIGTERM, then SIGKILL.
struct Server {
    child: Child,
    what: &'static str,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let (Ok(None), Ok(pid)) = (self.child.try_wait(), i32::try_from(self.child.id())) {
            // SAFETY: plain kill(2) on our own child, which has not been reaped yet.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn logged(&self) -> String {
        format!(
            "{} log:\n{}",
            self.what,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }
}

/// An X display number nobody on this machine uses (no lock file, no socket), for the VNC
/// servers run outside the private namespace; never the same twice in this process.
fn free_display() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    for _ in 0..200 {
        let n = 300 + NEXT.fetch_add(1, Ordering::Relaxed) % 200;
        let lock = PathBuf::from(format!("/tmp/.X{n}-lock"));
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
        if !lock.exists() && !socket.exists() {
            return n;
        }
    }
    panic!("no free X display number in 300..500");
}

/// Runs a setup command to completion, panicking with its output when it fails; its stdout.
fn run_ok(cmd: &mut Command, what: &str) -> Vec<u8> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Starts `cmd` in a process group of its own (smbd, stopped by SIGTERM, signals its whole
/// process group, which would otherwise be the test's), with stdout and stderr in
/// `dir/<what>.log`, and waits (bounded) until every one of `listening` accepts a connection.
fn start(dir: &Path, what: &'static str, cmd: &mut Command, listening: &[SocketAddr]) -> Server {
    let log = dir.join(format!("{what}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let err = out.try_clone().unwrap();
    let child = cmd
        .current_dir(dir)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let mut server = Server { child, what, log };
    let until = Instant::now() + Duration::from_secs(20);
    for addr in listening {
        while TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{what} exited early ({status}):\n{}", server.logged());
            }
            assert!(
                Instant::now() < until,
                "{what} is not listening on {addr}:\n{}",
                server.logged()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    server
}

fn addr(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

/// A temp dir the servers' unprivileged users (lp, _rpc, nobody) can pass through.
fn lab_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn sub(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

// ---------------------------------------------------------------- the servers

/// `smbd --foreground --no-process-group --debug-stdout -s CONF`: a standalone server for
/// workgroup LAB with one read-only guest share, listening on `ports` (`smb ports`) of
/// 127.0.0.1 only, every state directory below `dir/samba`.
fn start_smbd(dir: &Path, ports: &[u16]) -> Server {
    let smbd = binary(&["/usr/sbin/smbd"], "samba");
    let home = sub(dir, "samba");
    for d in [
        "private", "lock", "state", "cache", "pid", "ncalrpc", "share",
    ] {
        sub(&home, d);
    }
    let h = home.display();
    let smb_ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let conf = format!(
        "[global]\n\
         workgroup = LAB\n\
         server role = standalone server\n\
         smb ports = {}\n\
         interfaces = 127.0.0.1\n\
         bind interfaces only = yes\n\
         private dir = {h}/private\n\
         lock directory = {h}/lock\n\
         state directory = {h}/state\n\
         cache directory = {h}/cache\n\
         pid directory = {h}/pid\n\
         ncalrpc dir = {h}/ncalrpc\n\
         log file = {h}/log.%m\n\
         load printers = no\n\
         printcap name = /dev/null\n\
         disable spoolss = yes\n\
         map to guest = bad user\n\
         [share]\n\
         path = {h}/share\n\
         guest ok = yes\n\
         read only = yes\n",
        smb_ports.join(" ")
    );
    let conf_path = home.join("smb.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let listening: Vec<SocketAddr> = ports.iter().map(|p| addr(LOCAL, *p)).collect();
    start(
        dir,
        "smbd",
        Command::new(smbd)
            .args(["--foreground", "--no-process-group", "--debug-stdout", "-s"])
            .arg(&conf_path),
        &listening,
    )
}

/// `xrdp --nodaemon --config xrdp.ini` on 127.0.0.1:`port`, with Debian's security settings
/// (`security_layer=negotiate`, `crypt_level=high`, TLS 1.2 and 1.3) and a self-signed
/// certificate made now.
fn start_xrdp(dir: &Path, port: u16) -> Server {
    let xrdp = binary(&["/usr/sbin/xrdp"], "xrdp");
    let home = sub(dir, "xrdp");
    let (cert, key) = (home.join("cert.pem"), home.join("key.pem"));
    run_ok(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
            ])
            .args(["-subj", "/CN=rdp.lab.test", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
        "openssl req (xrdp)",
    );
    let conf = format!(
        "[Globals]\nini_version=1\nfork=false\nport=tcp://127.0.0.1:{port}\n\
         security_layer=negotiate\ncrypt_level=high\ncertificate={}\nkey_file={}\n\
         ssl_protocols=TLSv1.2, TLSv1.3\n\
         [Logging]\nLogFile={}\nLogLevel=INFO\nEnableSyslog=false\n\
         EnableConsole=true\nConsoleLevel=INFO\n\
         [Xorg]\nname=Xorg\nlib=libxup.so\nusername=ask\npassword=ask\nip=127.0.0.1\n\
         port=-1\ncode=20\n",
        cert.display(),
        key.display(),
        home.join("xrdp.log").display(),
    );
    let conf_path = home.join("xrdp.ini");
    std::fs::write(&conf_path, conf).unwrap();
    start(
        dir,
        "xrdp",
        Command::new(xrdp)
            .args(["--nodaemon", "--config"])
            .arg(&conf_path),
        &[addr(LOCAL, port)],
    )
}

/// `Xtigervnc :DISPLAY -rfbport PORT -localhost=1`, RFB on loopback only, no X over TCP;
/// `-SecurityTypes None`, or `VncAuth` with a password file made by `tigervncpasswd -f`.
fn start_vnc(dir: &Path, what: &'static str, display: u16, port: u16, password: bool) -> Server {
    let xvnc = binary(&["/usr/bin/Xtigervnc"], "tigervnc-standalone-server");
    let mut cmd = Command::new(xvnc);
    cmd.arg(format!(":{display}")).args([
        "-rfbport",
        &port.to_string(),
        "-localhost=1",
        "-nolisten",
        "tcp",
    ]);
    if password {
        let passwd = binary(&["/usr/bin/tigervncpasswd"], "tigervnc-tools");
        let file = sub(dir, what).join("passwd");
        let obfuscated = {
            let mut child = Command::new(passwd)
                .arg("-f")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"secret12\n")
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "tigervncpasswd -f");
            out.stdout
        };
        assert_eq!(obfuscated.len(), 8, "a VNC password file is 8 bytes");
        std::fs::write(&file, obfuscated).unwrap();
        cmd.args(["-SecurityTypes", "VncAuth", "-PasswordFile"])
            .arg(&file);
    } else {
        cmd.args(["-SecurityTypes", "None"]);
    }
    start(dir, what, &mut cmd, &[addr(LOCAL, port)])
}

/// Whose modules an rsync daemon serves: anyone, or `alice` with a password.
#[derive(Clone, Copy, PartialEq)]
enum Rsync {
    Open,
    AuthUsers,
}

/// `rsync --daemon --no-detach --address 127.0.0.1 --port PORT --config CONF` serving one
/// read-only module `pub`.
fn start_rsyncd(dir: &Path, what: &'static str, port: u16, mode: Rsync) -> Server {
    let rsync = binary(&["/usr/bin/rsync"], "rsync");
    let home = sub(dir, what);
    let module = sub(&home, "pub");
    std::fs::write(module.join("README"), "hello\n").unwrap();
    let mut conf = format!(
        "use chroot = no\npid file = {}/rsyncd.pid\n[pub]\npath = {}\nread only = yes\n",
        home.display(),
        module.display()
    );
    if mode == Rsync::AuthUsers {
        let secrets = home.join("rsyncd.secrets");
        std::fs::write(&secrets, "alice:s3cret\n").unwrap();
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
        conf.push_str(&format!(
            "auth users = alice\nsecrets file = {}\n",
            secrets.display()
        ));
    }
    let conf_path = home.join("rsyncd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    start(
        dir,
        what,
        Command::new(rsync)
            .args(["--daemon", "--no-detach", "--address", "127.0.0.1"])
            .args(["--port", &port.to_string(), "--config"])
            .arg(&conf_path),
        &[addr(LOCAL, port)],
    )
}

/// `cupsd -f -c cupsd.conf -s cups-files.conf` on 127.0.0.1:`port`: Debian's web interface
/// setting (`WebInterface Yes`), browsing off, and a DocumentRoot with one index page, every
/// directory below `dir/cups`.
fn start_cupsd(dir: &Path, port: u16) -> Server {
    let cupsd = binary(&["/usr/sbin/cupsd"], "cups-daemon");
    let home = sub(dir, "cups");
    let h = home.display();
    for d in ["spool", "tmp", "cache", "state", "www"] {
        sub(&home, d);
    }
    std::fs::write(
        home.join("www/index.html"),
        "<!DOCTYPE html><html><head><title>CUPS</title></head><body>Printers</body></html>\n",
    )
    .unwrap();
    std::fs::write(
        home.join("cupsd.conf"),
        format!(
            "LogLevel warn\nListen 127.0.0.1:{port}\nBrowsing No\nWebInterface Yes\n\
             DefaultAuthType Basic\n\
             <Location />\n  Order allow,deny\n  Allow all\n</Location>\n\
             <Location /admin>\n  AuthType Default\n  Require user @SYSTEM\n  Order allow,deny\n\
             </Location>\n"
        ),
    )
    .unwrap();
    std::fs::write(
        home.join("cups-files.conf"),
        format!(
            "ServerRoot {h}\nRequestRoot {h}/spool\nTempDir {h}/tmp\nCacheDir {h}/cache\n\
             StateDir {h}/state\nDocumentRoot {h}/www\n\
             AccessLog stderr\nErrorLog stderr\nPageLog stderr\n"
        ),
    )
    .unwrap();
    start(
        dir,
        "cupsd",
        Command::new(cupsd)
            .arg("-f")
            .arg("-c")
            .arg(home.join("cupsd.conf"))
            .arg("-s")
            .arg(home.join("cups-files.conf")),
        &[addr(LOCAL, port)],
    )
}

/// `Xvfb :DISPLAY -listen tcp -nolisten unix` (TCP port 6000 + DISPLAY, every address: only
/// inside the private network namespace): `-ac` (host access control off, what "xhost +"
/// leaves), or `-auth FILE` with one MIT-MAGIC-COOKIE-1, as a display manager starts X.
fn start_xvfb(dir: &Path, what: &'static str, display: u16, open: bool) -> Server {
    let xvfb = binary(&["/usr/bin/Xvfb"], "xvfb");
    let mut cmd = Command::new(xvfb);
    cmd.arg(format!(":{display}"))
        .args(["-listen", "tcp", "-nolisten", "unix"]);
    if open {
        cmd.arg("-ac");
    } else {
        // An Xauthority entry (family FamilyWild, empty address, display number, protocol
        // name, cookie), each field a big-endian 16-bit length and its bytes.
        let field = |b: &[u8]| {
            let mut v = (b.len() as u16).to_be_bytes().to_vec();
            v.extend_from_slice(b);
            v
        };
        let mut entry = 0xffffu16.to_be_bytes().to_vec();
        entry.extend(field(b""));
        entry.extend(field(display.to_string().as_bytes()));
        entry.extend(field(b"MIT-MAGIC-COOKIE-1"));
        entry.extend(field(&[0x5a; 16]));
        let file = sub(dir, what).join("Xauthority");
        std::fs::write(&file, entry).unwrap();
        cmd.arg("-auth").arg(&file);
    }
    start(dir, what, &mut cmd, &[addr(LOCAL, 6000 + display)])
}

/// `rpcbind -f` (foreground; every address, port 111: only inside the private namespace).
fn start_rpcbind(dir: &Path) -> Server {
    let rpcbind = binary(&["/usr/sbin/rpcbind", "/sbin/rpcbind"], "rpcbind");
    start(
        dir,
        "rpcbind",
        Command::new(rpcbind).arg("-f"),
        &[addr(LOCAL, 111)],
    )
}

/// The rsync protocol version this rsync speaks (`32`), from `rsync --version`.
fn rsync_protocol() -> String {
    let out = run_ok(
        Command::new(binary(&["/usr/bin/rsync"], "rsync")).arg("--version"),
        "rsync --version",
    );
    let text = String::from_utf8_lossy(&out).into_owned();
    text.split("protocol version ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no protocol version in {text:?}"))
        .to_string()
}

// ---------------------------------------------------------------- the report

/// `posture scan TARGETS --json … --fail-on none --allow-incomplete -q`.
fn scan_lab(dir: &Path, targets: &[String]) -> Value {
    let mut args: Vec<&str> = targets.iter().map(String::as_str).collect();
    args.extend(["--fail-on", "none", "--allow-incomplete"]);
    let started = Instant::now();
    let (code, report) = scan(dir, &args);
    let took = started.elapsed();
    eprintln!("posture scan {targets:?}: {took:?}");
    assert_eq!(code, 0, "{report:#}");
    assert!(took < Duration::from_secs(10), "the scan took {took:?}");
    report
}

fn no_incomplete(report: &Value) {
    assert_eq!(incomplete(report), [], "{report:#}");
}

/// The one port subject of `ip:port`.
fn port_at(report: &Value, ip: Ipv4Addr, port: u16) -> Value {
    let endpoint = format!("{ip}:{port}");
    let mut found: Vec<Value> = subjects(report, "port")
        .into_iter()
        .filter(|s| s["endpoint"] == endpoint)
        .map(|s| s["port"].clone())
        .collect();
    assert_eq!(found.len(), 1, "{ip}:{port}: {report:#}");
    found.pop().unwrap()
}

/// `(service, service_source)` of a port subject.
fn named(facts: &Value) -> (&str, &str) {
    (
        facts["service"].as_str().unwrap(),
        facts["service_source"].as_str().unwrap(),
    )
}

/// A port subject's banner as text (posture's escaped form).
fn banner(facts: &Value) -> String {
    facts["banner"].as_str().unwrap().to_string()
}

/// The bytes behind posture's escaped banner: `\xNN` is a byte that was not UTF-8, `\u{H}` a
/// control character, `\\` a backslash; everything else is UTF-8 as sent.
fn wire_bytes(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('\\') {
        out.extend_from_slice(&rest.as_bytes()[..i]);
        let esc = &rest[i..];
        if let Some(after) = esc.strip_prefix("\\\\") {
            out.push(b'\\');
            rest = after;
        } else if let Some(hex) = esc.strip_prefix("\\x") {
            out.push(u8::from_str_radix(&hex[..2], 16).unwrap());
            rest = &hex[2..];
        } else if let Some(body) = esc.strip_prefix("\\u{") {
            let end = body.find('}').unwrap();
            let c = char::from_u32(u32::from_str_radix(&body[..end], 16).unwrap()).unwrap();
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            rest = &body[end + 1..];
        } else {
            panic!("unexpected escape in {text:?}");
        }
    }
    out.extend_from_slice(rest.as_bytes());
    out
}

/// Every finding as `(rule_id, endpoint)`.
fn findings(report: &Value) -> BTreeSet<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_string(),
                f["endpoint"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn set(items: &[(&str, String)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(r, e)| (r.to_string(), e.clone()))
        .collect()
}

/// How `port.risky-service` names a service and how its advice begins.
struct Risk {
    name: &'static str,
    advice: &'static str,
}

const SMB: Risk = Risk {
    name: "SMB file sharing",
    advice: "SMB must never be reachable from untrusted networks",
};
const NETBIOS: Risk = Risk {
    name: "NetBIOS session service",
    advice: "NetBIOS session service carries legacy SMB and leaks host and user names.",
};
const RDP: Risk = Risk {
    name: "Remote Desktop (RDP)",
    advice: "RDP exposed to the internet is a top ransomware entry point",
};
const VNC: Risk = Risk {
    name: "VNC remote desktop",
    advice: "VNC authentication is weak",
};
const RSYNC: Risk = Risk {
    name: "rsync daemon",
    advice: "An rsync daemon may serve modules without authentication.",
};
const X11: Risk = Risk {
    name: "X11 display server",
    advice: "An open X11 server lets anyone capture the screen and inject keystrokes.",
};
const RPCBIND: Risk = Risk {
    name: "rpcbind/portmapper (Sun RPC service directory)",
    advice: "rpcbind lists every RPC service (NFS, NIS, mountd) to anyone who asks.",
};

/// `port.risky-service` on `ip:port`: high, for `service` identified by `source`, with the
/// rule's name for it and its advice.
fn assert_risky(report: &Value, ip: Ipv4Addr, port: u16, (service, source): (&str, &str), r: Risk) {
    let endpoint = format!("{ip}:{port}");
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "port.risky-service" && f["endpoint"] == endpoint)
        .unwrap_or_else(|| panic!("no port.risky-service on {endpoint}: {report:#}"));
    assert_eq!(f["severity"], "high", "{f}");
    assert_eq!(
        f["message"],
        format!(
            "{} is exposed on {endpoint} (port {port}/tcp, service `{service}` identified by \
             {source}).",
            r.name
        ),
        "{f}"
    );
    assert!(
        f["remediation"].as_str().unwrap().starts_with(r.advice),
        "{f}"
    );
    assert_eq!(f["evidence"]["port.service"], service, "{f}");
    assert_eq!(f["evidence"]["port.service_source"], source, "{f}");
}

/// No TLS and no HTTP subject anywhere in the report.
fn no_tls_no_http(report: &Value) {
    assert_eq!(subjects(report, "tls"), Vec::<&Value>::new(), "{report:#}");
    assert_eq!(subjects(report, "http"), Vec::<&Value>::new(), "{report:#}");
}

// ---------------------------------------------------------------- what each server sends

/// smbd's answer to an SMB2 NEGOTIATE (MS-SMB2 §2.2.4) in a NetBIOS session message: the
/// message length in the 4-byte header matches what follows, `\xfeSMB`, a 64-byte header
/// with status 0 (success), command 0 (NEGOTIATE), the server-to-client flag, then a
/// negotiate response (StructureSize 65) selecting SMB 3.0.2, the highest of posture's
/// dialects (2.0.2, 2.1, 3.0, 3.0.2), with signing enabled but not required (Samba's default
/// `server signing = default` for a standalone server).
fn assert_smbd_negotiate_response(text: &str) {
    let b = wire_bytes(text);
    assert!(b.len() > 4 + 64 + 65, "{text:?}");
    let len = u32::from_be_bytes([0, b[1], b[2], b[3]]) as usize;
    assert_eq!((b[0], len), (0, b.len() - 4), "{text:?}");
    let smb = &b[4..];
    let u16le = |at: usize| u16::from_le_bytes([smb[at], smb[at + 1]]);
    let u32le = |at: usize| u32::from_le_bytes([smb[at], smb[at + 1], smb[at + 2], smb[at + 3]]);
    assert_eq!(&smb[..4], b"\xfeSMB", "{text:?}");
    assert_eq!(u16le(4), 64, "header StructureSize: {text:?}");
    assert_eq!(u32le(8), 0, "Status STATUS_SUCCESS: {text:?}");
    assert_eq!(u16le(12), 0, "Command NEGOTIATE: {text:?}");
    assert_eq!(u32le(16) & 1, 1, "SMB2_FLAGS_SERVER_TO_REDIR: {text:?}");
    assert_eq!(u16le(64), 65, "response StructureSize: {text:?}");
    assert_eq!(
        u16le(66),
        0x0001,
        "SecurityMode signing enabled only: {text:?}"
    );
    assert_eq!(u16le(68), 0x0302, "DialectRevision SMB 3.0.2: {text:?}");
}

/// xrdp's X.224 Connection Confirm (RFC 1006 TPKT, length 19; X.224 CC `0xd0`, xrdp's source
/// reference 0x1234) carrying RDP_NEG_RSP (MS-RDPBCGR §2.2.1.2.1: type 2, flags
/// EXTENDED_CLIENT_DATA_SUPPORTED, length 8) that selects PROTOCOL_SSL (1): TLS without
/// CredSSP, i.e. no Network Level Authentication, although posture offered TLS | CredSSP.
const XRDP_CONNECTION_CONFIRM: &[u8] = &[
    0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x01, 0x08, 0x00, 0x01,
    0x00, 0x00, 0x00,
];

/// The X11 connection setup reply to posture's little-endian request for protocol 11.0
/// without authorisation: `Success` (1) from an X server whose access control lets us in,
/// with vendor "The X.Org Foundation"; `Failed` (0) with the reason from one that wants a
/// cookie.
fn assert_x11_setup(text: &str, open: bool) {
    let b = wire_bytes(text);
    assert!(b.len() >= 8, "{text:?}");
    assert_eq!(&b[2..6], &[11, 0, 0, 0], "protocol 11.0: {text:?}");
    if open {
        assert_eq!(b[0], 1, "Success: {text:?}");
        assert!(text.contains("The X.Org Foundation"), "{text:?}");
    } else {
        let reason = b"Authorization required, but no authorization protocol specified\n";
        assert_eq!((b[0], usize::from(b[1])), (0, reason.len()), "{text:?}");
        assert_eq!(&b[8..8 + reason.len()], reason, "{text:?}");
    }
}

/// CUPS answers posture's `GET / HTTP/1.0` without a Host header with 400 (it logs `invalid
/// Host: field ""`), naming itself `CUPS/2.x IPP/2.1`.
fn assert_cups_answer(text: &str) {
    assert!(text.starts_with("HTTP/1.0 400 Bad Request\r\n"), "{text:?}");
    assert!(text.contains("\r\nServer: CUPS/2."), "{text:?}");
    assert!(text.contains(" IPP/2.1\r\n"), "{text:?}");
}

/// The HTTP subject of CUPS on `ip:port`: its index page (200) over plain HTTP, `Server:
/// CUPS/2.x IPP/2.1`, clickjacking protection (X-Frame-Options DENY, CSP frame-ancestors
/// 'none') but no `X-Content-Type-Options`; so plain HTTP without a redirect, the version
/// disclosure and the one missing header are the findings, and they are true.
fn assert_cups_http(report: &Value, ip: Ipv4Addr, port: u16) -> BTreeSet<(String, String)> {
    let endpoint = format!("{ip}:{port}");
    let http: Vec<&Value> = subjects(report, "http")
        .into_iter()
        .filter(|s| s["endpoint"] == endpoint)
        .collect();
    assert_eq!(http.len(), 1, "{report:#}");
    let h = &http[0]["http"];
    assert_eq!(h["scheme"], "http", "{h:#}");
    assert_eq!(h["final_status"], 200, "{h:#}");
    assert!(
        h["server"].as_str().unwrap().starts_with("CUPS/2."),
        "{h:#}"
    );
    assert_eq!(h["x_frame_options"], "DENY", "{h:#}");
    assert_eq!(
        h["missing_headers"],
        serde_json::json!(["x-content-type-options"])
    );
    set(&[
        ("http.redirect.missing", endpoint.clone()),
        ("http.headers.missing", endpoint.clone()),
        ("http.server.version-disclosure", endpoint),
    ])
}

// ---------------------------------------------------------------- tests on high ports

/// The rsync daemon greets first with `@RSYNCD: <protocol>.0` and its checksum list: `rsync`
/// by its banner on any port, and `port.risky-service` fires on it, with an open module and
/// with `auth users` alike (the rule is about the daemon being reachable; the greeting says
/// nothing about the modules).
#[test]
fn rsync_daemons_are_named_by_their_greeting() {
    let dir = lab_dir();
    let (open, auth) = (free_port(), free_port());
    let _open = start_rsyncd(dir.path(), "rsyncd-open", open, Rsync::Open);
    let _auth = start_rsyncd(dir.path(), "rsyncd-auth", auth, Rsync::AuthUsers);
    let report = scan_lab(
        dir.path(),
        &[format!("{LOCAL}:{open}"), format!("{LOCAL}:{auth}")],
    );
    no_incomplete(&report);
    no_tls_no_http(&report);
    let greeting = format!("@RSYNCD: {}.0 ", rsync_protocol());
    for port in [open, auth] {
        let facts = port_at(&report, LOCAL, port);
        assert_eq!(named(&facts), ("rsync", "banner"), "{facts}");
        let text = banner(&facts);
        assert!(
            text.starts_with(&greeting) && text.ends_with('\n') && text.lines().count() == 1,
            "{greeting:?} in {text:?}"
        );
        assert_risky(&report, LOCAL, port, ("rsync", "banner"), RSYNC);
    }
    let want = set(&[
        ("port.risky-service", format!("{LOCAL}:{open}")),
        ("port.risky-service", format!("{LOCAL}:{auth}")),
    ]);
    assert_eq!(findings(&report), want, "{report:#}");
}

/// TigerVNC speaks first with its RFB version (RFC 6143 §7.1.1, `RFB 003.008\n`), with no
/// authentication and with a VNC password alike: `vnc` by its banner on any port, and
/// `port.risky-service` on both.
#[test]
fn vnc_servers_are_named_by_their_rfb_greeting() {
    let dir = lab_dir();
    let (open, password) = (free_port(), free_port());
    let _open = start_vnc(dir.path(), "vnc-none", free_display(), open, false);
    let _password = start_vnc(dir.path(), "vnc-password", free_display(), password, true);
    let report = scan_lab(
        dir.path(),
        &[format!("{LOCAL}:{open}"), format!("{LOCAL}:{password}")],
    );
    no_incomplete(&report);
    no_tls_no_http(&report);
    for port in [open, password] {
        let facts = port_at(&report, LOCAL, port);
        assert_eq!(named(&facts), ("vnc", "banner"), "{facts}");
        assert_eq!(banner(&facts), "RFB 003.008\n");
        assert_risky(&report, LOCAL, port, ("vnc", "banner"), VNC);
    }
    let want = set(&[
        ("port.risky-service", format!("{LOCAL}:{open}")),
        ("port.risky-service", format!("{LOCAL}:{password}")),
    ]);
    assert_eq!(findings(&report), want, "{report:#}");
}

/// CUPS on a port that names nothing is an HTTP server (nmap says `ipp`, which is HTTP): it
/// answers the `GET` nudge, so it is `http` by probe, gets the HTTP checks and only those,
/// and is no risky service.
#[test]
fn cups_is_judged_as_the_http_server_it_is() {
    let dir = lab_dir();
    let port = free_port();
    let _cupsd = start_cupsd(dir.path(), port);
    let report = scan_lab(dir.path(), &[format!("{LOCAL}:{port}")]);
    no_incomplete(&report);
    let facts = port_at(&report, LOCAL, port);
    assert_eq!(named(&facts), ("http", "probe"), "{facts}");
    assert_cups_answer(&banner(&facts));
    assert_eq!(subjects(&report, "tls"), Vec::<&Value>::new());
    let want = assert_cups_http(&report, LOCAL, port);
    assert_eq!(findings(&report), want, "{report:#}");
}

/// Samba serves SMB on any port (`smb ports`), and answers an SMB2 NEGOTIATE there exactly as
/// on 445 (`nmap -sV` names it by its SMB probe on any port). The recogniser already names
/// that answer `smb` on any port (`binary_reply`), but on a port the table does not name
/// posture only ever asks `GET / HTTP/1.0`, to which smbd neither answers nor hangs up (its
/// first 4 bytes read as a NetBIOS header announcing an 87 KB message, and smbd waits for it),
/// then a ClientHello, which smbd drops. The SMB server is reported `unknown` by port, and the
/// risky service goes unflagged.
#[test]
fn samba_on_a_high_port_is_named_smb() {
    let dir = lab_dir();
    let port = free_port();
    let _smbd = start_smbd(dir.path(), &[port]);
    let report = scan_lab(dir.path(), &[format!("{LOCAL}:{port}")]);
    no_incomplete(&report);
    no_tls_no_http(&report);
    let facts = port_at(&report, LOCAL, port);
    assert_eq!(named(&facts), ("smb", "probe"), "{facts}");
    assert_smbd_negotiate_response(&banner(&facts));
    assert_risky(&report, LOCAL, port, ("smb", "probe"), SMB);
    let want = set(&[("port.risky-service", format!("{LOCAL}:{port}"))]);
    assert_eq!(findings(&report), want, "{report:#}");
}

/// RDP moved off 3389 is the most common way RDP is "hidden"; xrdp answers an X.224
/// Connection Request there as on 3389, and `nmap -sV` names it `ms-wbt-server` by that
/// answer on any port. posture's recogniser names the Connection Confirm `rdp` on any port,
/// but on a port the table does not name it only asks `GET / HTTP/1.0`, to which xrdp neither
/// answers nor hangs up (it waits for the rest of what it takes for a PDU), then a
/// ClientHello. The port is reported under the port table's name (or `unknown`) and RDP goes
/// unflagged.
#[test]
fn xrdp_on_a_high_port_is_named_rdp() {
    let dir = lab_dir();
    let port = free_port();
    let _xrdp = start_xrdp(dir.path(), port);
    let report = scan_lab(dir.path(), &[format!("{LOCAL}:{port}")]);
    no_incomplete(&report);
    no_tls_no_http(&report);
    let facts = port_at(&report, LOCAL, port);
    assert_eq!(named(&facts), ("rdp", "probe"), "{facts}");
    assert_eq!(wire_bytes(&banner(&facts)), XRDP_CONNECTION_CONFIRM);
    assert_risky(&report, LOCAL, port, ("rdp", "probe"), RDP);
    let want = set(&[("port.risky-service", format!("{LOCAL}:{port}"))]);
    assert_eq!(findings(&report), want, "{report:#}");
}

// ---------------------------------------------------------------- conventional ports

/// Every server on its own port, scanned together: each named by what it answered (smbd's
/// SMB2 negotiate on 445 and NetBIOS positive session response on 139, xrdp's Connection
/// Confirm on 3389, the RFB and rsync greetings, X11 setup replies that accept us and that
/// refuse us for want of a cookie), rpcbind by its port (it never answers `GET`), CUPS as HTTP;
/// `port.risky-service` on every one of them but CUPS, whose findings are the HTTP ones; no
/// TLS anywhere, nothing incomplete. Runs [`conventional_ports_inside_a_private_network`] in
/// a copy of this test binary inside `unshare --net --mount`.
#[test]
fn remote_access_services_on_their_conventional_ports_are_identified_and_flagged() {
    crate::support::netns::in_private_network(
        "real_remote_services::remote_access_services_on_their_conventional_ports_are_identified_and_flagged",
        &["--net", "--mount"],
        conventional_ports_inside_a_private_network,
    );
}

/// A file removed on drop.
struct BinCopy(std::path::PathBuf);

impl Drop for BinCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The body of [`remote_access_services_on_their_conventional_ports_are_identified_and_flagged`], run inside the private network.
fn conventional_ports_inside_a_private_network() {
    // The scanner lives in the build directory, which a private /tmp hides when the checkout
    // is below /tmp (a CI clone): a copy in /dev/shm, which we do not cover, is scanned with.
    let bin = assert_cmd::cargo::cargo_bin("posture");
    let keep = BinCopy(std::path::PathBuf::from(format!(
        "/dev/shm/posture-test-{}",
        std::process::id()
    )));
    std::fs::copy(&bin, &keep.0).unwrap();
    std::env::set_var(crate::support::BIN_ENV, &keep.0);
    // A /tmp and /run of our own: X lock files and sockets, rpcbind's lock and socket.
    for mount_point in ["/tmp", "/run"] {
        run_ok(
            Command::new("mount").args(["-t", "tmpfs", "tmpfs", mount_point]),
            "mount tmpfs",
        );
    }
    std::fs::create_dir_all("/run/xrdp").unwrap();
    std::fs::create_dir_all("/tmp/.X11-unix").unwrap();
    std::fs::set_permissions("/tmp", std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::set_permissions("/tmp/.X11-unix", std::fs::Permissions::from_mode(0o1777)).unwrap();

    let dir = lab_dir();
    let d = dir.path();
    let _servers = [
        start_smbd(d, &[445, 139]),
        start_xrdp(d, 3389),
        start_vnc(d, "vnc-none", 50, 5900, false),
        start_vnc(d, "vnc-password", 51, 5901, true),
        start_rsyncd(d, "rsyncd", 873, Rsync::Open),
        start_xvfb(d, "xvfb-open", 0, true),
        start_xvfb(d, "xvfb-cookie", 1, false),
        start_rpcbind(d),
        start_cupsd(d, 631),
    ];
    let ports = [445, 139, 3389, 5900, 5901, 873, 6000, 6001, 111, 631];
    let targets: Vec<String> = ports.iter().map(|p| format!("{LOCAL}:{p}")).collect();
    let report = scan_lab(d, &targets);
    no_incomplete(&report);

    let expect = [
        (445, "smb", "probe"),
        (139, "netbios", "probe"),
        (3389, "rdp", "probe"),
        (5900, "vnc", "banner"),
        (5901, "vnc", "banner"),
        (873, "rsync", "banner"),
        (6000, "x11", "probe"),
        (6001, "x11", "probe"),
        (111, "rpcbind", "port"),
        (631, "http", "probe"),
    ];
    for (p, name, source) in expect {
        let facts = port_at(&report, LOCAL, p);
        assert_eq!(named(&facts), (name, source), "{LOCAL}:{p}: {facts}");
    }

    // What each said, as recorded.
    let said = |p: u16| banner(&port_at(&report, LOCAL, p));
    assert_smbd_negotiate_response(&said(445));
    // RFC 1002 §4.3.3: POSITIVE SESSION RESPONSE to posture's request for `*SMBSERVER`.
    assert_eq!(wire_bytes(&said(139)), [0x82, 0, 0, 0]);
    assert_eq!(wire_bytes(&said(3389)), XRDP_CONNECTION_CONFIRM);
    assert_eq!(said(5900), "RFB 003.008\n");
    assert_eq!(said(5901), "RFB 003.008\n");
    assert!(
        said(873).starts_with(&format!("@RSYNCD: {}.0 ", rsync_protocol())),
        "{}",
        said(873)
    );
    assert_x11_setup(&said(6000), true);
    assert_x11_setup(&said(6001), false);
    // rpcbind reads `GET ` as an RPC record mark (a 1.2 GB fragment) and waits: no answer.
    assert_eq!(said(111), "");
    assert_cups_answer(&said(631));

    assert_eq!(subjects(&report, "tls"), Vec::<&Value>::new(), "{report:#}");
    let mut want = assert_cups_http(&report, LOCAL, 631);
    assert_risky(&report, LOCAL, 445, ("smb", "probe"), SMB);
    assert_risky(&report, LOCAL, 139, ("netbios", "probe"), NETBIOS);
    assert_risky(&report, LOCAL, 3389, ("rdp", "probe"), RDP);
    assert_risky(&report, LOCAL, 5900, ("vnc", "banner"), VNC);
    assert_risky(&report, LOCAL, 5901, ("vnc", "banner"), VNC);
    assert_risky(&report, LOCAL, 873, ("rsync", "banner"), RSYNC);
    assert_risky(&report, LOCAL, 6000, ("x11", "probe"), X11);
    assert_risky(&report, LOCAL, 6001, ("x11", "probe"), X11);
    assert_risky(&report, LOCAL, 111, ("rpcbind", "port"), RPCBIND);
    for p in [445, 139, 3389, 5900, 5901, 873, 6000, 6001, 111] {
        want.insert(("port.risky-service".to_string(), format!("{LOCAL}:{p}")));
    }
    assert_eq!(findings(&report), want, "{report:#}");
}
