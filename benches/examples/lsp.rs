//! The language server under an editor's load: `cargo build --release -p evr && cargo run
//! --release -p evr-benches --example lsp -- [EDITS]` (default 10,000 edits).
//!
//! Drives the release `evr lsp` (or `$EVR_BIN`) over stdio, as an editor does, on a bundle of
//! 2,000 rules in one file. Each edit changes one character of one rule (in turn adding and
//! removing an unknown name, so the diagnostics change every time); it is timed from sending
//! `didChange` to the diagnostics being published (the server's debounce included). Hover and
//! completion are timed on the analysed text, and right after an edit (then including the
//! analysis the request waits for). The server's resident memory is read after the first 100
//! edits and after the last.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use evr_lsp::client::{Client, uri};
use serde_json::json;

const RULES: usize = 2_000;

fn rss_kb(pid: u32) -> u64 {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1].as_secs_f64() * 1e3
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for e in std::fs::read_dir(from).expect("readable") {
        let p = e.expect("entry").path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().expect("name"))).expect("copy");
        }
    }
}

fn main() -> Result<(), String> {
    let edits: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf();
    let binary = std::env::var_os("EVR_BIN").map(PathBuf::from).unwrap_or_else(|| root.join("target/release/evr"));
    let dir = std::env::temp_dir().join(format!("evr-lsp-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&evr_benches::workload_dir().join("schemas"), &dir.join("schemas"));
    let mut text = evr_benches::bundle(RULES);
    let path = dir.join("rules.evr");
    std::fs::write(&path, &text).map_err(|e| e.to_string())?;
    let file = uri(&path);

    let mut client = Client::start(&binary, &dir)?;
    let seen = client.published;
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": file, "languageId": "evr", "version": 0, "text": text } }),
    )?;
    client.wait_published(seen)?;
    if client.diagnostics.get(&file).is_some_and(|d| d.as_array().is_some_and(|a| !a.is_empty())) {
        return Err(format!("the bundle does not check: {:?}", client.diagnostics.get(&file)));
    }

    // The edited place: `event` in the condition of the rule in the middle of the file.
    let anchor = format!("rule shard_{} on logs when event", RULES / 2);
    let at = text.find(&anchor).ok_or("no anchor")? + anchor.len();
    let line = text[..at].matches('\n').count();
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1);
    let position = json!({ "line": line, "character": col - 2 });
    let (mut diagnostics, mut hovers, mut completions, mut after_edit) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut warm_rss = 0;
    for version in 1..=edits {
        if version % 2 == 1 {
            text.insert(at, 'x');
        } else {
            text.remove(at);
        }
        let seen = client.published;
        let start = Instant::now();
        client.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": file, "version": version }, "contentChanges": [{ "text": text }] }),
        )?;
        if version % 50 == 0 {
            // Straight after the edit: the request waits for the analysis.
            client.request("textDocument/hover", json!({ "textDocument": { "uri": file }, "position": position }))?;
            after_edit.push(start.elapsed());
        }
        client.wait_published(seen)?;
        diagnostics.push(start.elapsed());
        let errors = client.diagnostics.get(&file).and_then(|d| d.as_array().map(Vec::len)).unwrap_or(0);
        if errors != version % 2 {
            return Err(format!("after edit {version}: {errors} diagnostics"));
        }
        if version % 10 == 0 {
            let t = Instant::now();
            client.request("textDocument/hover", json!({ "textDocument": { "uri": file }, "position": position }))?;
            hovers.push(t.elapsed());
            let t = Instant::now();
            client
                .request("textDocument/completion", json!({ "textDocument": { "uri": file }, "position": position }))?;
            completions.push(t.elapsed());
        }
        if version == 100.min(edits) {
            warm_rss = rss_kb(client.pid());
        }
    }
    let end_rss = rss_kb(client.pid());
    let status = client.stop()?;
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{RULES} rules in one file, {edits} one-character edits: diagnostics published after p50 {:.1} ms, p99 {:.1} ms \
         (debounce of 15 ms included); hover p50 {:.2} ms, p99 {:.2} ms; completion p50 {:.2} ms, p99 {:.2} ms; \
         hover sent right after an edit p50 {:.1} ms, p99 {:.1} ms; server resident {:.1} MB after 100 edits, \
         {:.1} MB after {edits} (exit status {status})",
        pct(&mut diagnostics, 0.5),
        pct(&mut diagnostics, 0.99),
        pct(&mut hovers, 0.5),
        pct(&mut hovers, 0.99),
        pct(&mut completions, 0.5),
        pct(&mut completions, 0.99),
        pct(&mut after_edit, 0.5),
        pct(&mut after_edit, 0.99),
        warm_rss as f64 / 1e3,
        end_rss as f64 / 1e3,
    );
    Ok(())
}
