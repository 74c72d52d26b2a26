//! Headless Chromium for the HTML report tests: dump the DOM after scripts ran, take a
//! screenshot, and read the dumped DOM's elements.
//!
//! No DevTools client: `--dump-dom` prints the serialised DOM after load (our script has run
//! by then), which is what an attacker's payload would have to survive into.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one Chromium run may take (a cold start on a busy 2-core machine is seconds).
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);

/// The Chromium binary, or a panic that says how to get it: scripts/test installs it.
pub fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Some(p) = find_in_path(name) {
            return p;
        }
    }
    panic!(
        "chromium not found in PATH: the HTML report test needs a real browser. \
         Install it (Debian: apt-get install chromium) or run scripts/test, which does."
    );
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Runs Chromium headless on `page` with `extra` arguments, in a throwaway profile, with
/// every background network feature off. Returns stdout.
fn run(page: &Path, extra: &[String]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let url = format!(
        "file://{}",
        page.canonicalize().expect("page exists").display()
    );
    let mut cmd = assert_cmd::Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        "--mute-audio",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(url)
    .timeout(CHROMIUM_TIMEOUT);
    let out = cmd.output().expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The DOM of `page` after load, serialised by the browser.
pub fn dump_dom(page: &Path) -> String {
    let dom = run(page, &["--dump-dom".to_string()]);
    assert!(
        dom.contains("<html"),
        "chromium printed no DOM for {}",
        page.display()
    );
    dom
}

/// A PNG screenshot of `page` at `width`×`height`.
pub fn screenshot(page: &Path, png: &Path, width: u32, height: u32) {
    let _ = run(
        page,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={width},{height}"),
        ],
    );
}

/// One start tag of the serialised DOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    /// (lowercase name, value) in document order.
    pub attrs: Vec<(String, String)>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every start tag in a DOM serialised by a browser (HTML serialisation: text escapes `<` and
/// `&`; attribute values are double-quoted; `<script>` / `<style>` bodies are raw text; comments
/// are `<!-- … -->`). A tokenizer for that output, not for arbitrary HTML.
pub fn elements(dom: &str) -> Vec<Element> {
    let b = dom.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        if dom[i..].starts_with("<!--") {
            i = dom[i..].find("-->").map_or(b.len(), |e| i + e + 3);
            continue;
        }
        if i + 1 >= b.len() || !b[i + 1].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        // Tag name.
        let mut j = i + 1;
        while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' && b[j] != b'/' {
            j += 1;
        }
        let name = dom[i + 1..j].to_ascii_lowercase();
        // Attributes.
        let mut attrs = Vec::new();
        loop {
            while j < b.len() && (b[j].is_ascii_whitespace() || b[j] == b'/') {
                j += 1;
            }
            if j >= b.len() || b[j] == b'>' {
                j += 1;
                break;
            }
            let start = j;
            while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'=' && b[j] != b'>' {
                j += 1;
            }
            let attr = dom[start..j].to_ascii_lowercase();
            let mut value = String::new();
            if j < b.len() && b[j] == b'=' {
                j += 1;
                if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
                    let q = b[j];
                    let vs = j + 1;
                    let ve = dom[vs..]
                        .bytes()
                        .position(|c| c == q)
                        .map_or(b.len(), |p| vs + p);
                    value = dom[vs..ve].to_string();
                    j = ve + 1;
                } else {
                    let vs = j;
                    while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                        j += 1;
                    }
                    value = dom[vs..j].to_string();
                }
            }
            attrs.push((attr, value));
        }
        // Raw-text elements: skip to their end tag.
        if name == "script" || name == "style" {
            let close = format!("</{name}");
            j = dom[j.min(b.len())..]
                .to_ascii_lowercase()
                .find(&close)
                .map_or(b.len(), |e| j + e);
        }
        out.push(Element { name, attrs });
        i = j;
    }
    out
}

#[test]
fn tokenizer_reads_tags_attributes_and_skips_text() {
    let dom = "<html class=\"js\"><head><script>if (a < b) { x('<img>'); }</script></head>\
               <body><p title=\"a > b <img\">&lt;img src=x&gt;</p><!-- <img> --><IMG SRC=x onerror=go></body></html>";
    let els = elements(dom);
    let names: Vec<&str> = els.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["html", "head", "script", "body", "p", "img"]);
    assert_eq!(els[0].attr("class"), Some("js"));
    assert_eq!(els[4].attr("title"), Some("a > b <img"));
    assert_eq!(els[5].attr("onerror"), Some("go"));
}
