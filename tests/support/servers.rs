//! Third-party server processes started by the real-server tests.

use std::path::Path;
use std::process::Child;

/// A server process, killed (and reaped) on drop.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first of `candidates` that exists; panics naming the Debian package otherwise.
pub fn binary(candidates: &[&str], package: &str) -> String {
    for c in candidates {
        if Path::new(c).exists() {
            return c.to_string();
        }
    }
    panic!("{package} is not installed: `apt-get install {package}` (scripts/test does)");
}
