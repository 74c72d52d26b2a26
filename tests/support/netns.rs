//! Tests that need fixed or privileged ports (5432, 445, 2379…) run in a private network
//! namespace, where only `lo` exists and nothing on the host can hold those ports: the test
//! re-executes itself, by its own name, under `unshare`, and the copy inside runs the body.

use super::servers::binary;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the environment of the copy that runs inside the namespace.
const INSIDE: &str = "POSTURE_TEST_INSIDE_NETNS";
/// The copy's own waits are bounded; this only guards against a hang.
const LIMIT: Duration = Duration::from_secs(120);

/// Runs `body` inside `unshare UNSHARE…` (`--net`, plus `--mount` when it mounts a private
/// /tmp): `test` is the calling test's full name (`module::function`). Inside, loopback is
/// brought up first. Outside, the copy's outcome is asserted (it passed, and it ran the body).
pub fn in_private_network(test: &str, unshare: &[&str], body: fn()) {
    if std::env::var_os(INSIDE).is_some() {
        let ip = binary(
            &["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"],
            "iproute2",
        );
        let out = Command::new(ip)
            .args(["link", "set", "lo", "up"])
            .output()
            .expect("run ip");
        assert!(out.status.success(), "ip link set lo up: {out:?}");
        body();
        return;
    }
    let mut child = Command::new(binary(&["/usr/bin/unshare", "/bin/unshare"], "util-linux"))
        .args(unshare)
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run unshare");
    let until = Instant::now() + LIMIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= until {
            let _ = child.kill();
            panic!("{test} inside `unshare {unshare:?}` did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    eprintln!("{stderr}");
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test} inside `unshare {unshare:?}` ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
