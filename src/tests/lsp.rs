//! `evr lsp` driven over stdio the way an editor drives it, from fixtures in `tests/lsp/`:
//! each `NAME.txt` holds files (`//- NAME` starts one) with cursor markers (`$0`, `$1`, ...,
//! removed from the text) and a `//- requests` section, one request a line:
//!
//! ```text
//! hover $0            definition $1        references $1       completion $2
//! rename $1 NEW       prepareRename $1     symbols FILE        inlay FILE
//! format FILE        signature $1         actions $1          tokens FILE
//! type $3 TEXT        (inserts TEXT at the marker and sends the whole buffer)
//! ```
//!
//! What the server answers, and every change of the diagnostics it publishes, is compared
//! with `NAME.expect` (`UPDATE_EXPECT=1` writes it). URIs are shown relative to the fixture.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use evr_lsp::client::{Client, uri};
use serde_json::{Value, json};

/// The real binary's server, started in `root`, whose every failure fails the test.
fn start(root: &Path) -> Editor {
    Editor(Client::start(Path::new(env!("CARGO_BIN_EXE_evr")), root).expect("evr lsp starts"))
}

struct Editor(Client);

impl Editor {
    fn notify(&mut self, method: &str, params: Value) {
        self.0.notify(method, params).unwrap_or_else(|e| panic!("{method}: {e}"));
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.0.request(method, params).unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    fn stop(self) -> i32 {
        self.0.stop().unwrap_or_else(|e| panic!("stopping: {e}"))
    }

    /// A request about a place (`file`, position), with `more` parameters.
    fn at(&mut self, method: &str, (file, position): (PathBuf, Value), more: Value) -> Value {
        let mut params = json!({ "textDocument": { "uri": uri(&file) }, "position": position });
        if let (Some(all), Value::Object(more)) = (params.as_object_mut(), more) {
            all.extend(more);
        }
        self.request(method, params)
    }
}

/// A fixture: its files (markers removed), where each marker is, and its requests.
struct Fixture {
    files: Vec<(String, String)>,
    markers: BTreeMap<String, (String, usize)>,
    requests: Vec<String>,
}

fn parse_fixture(text: &str) -> Fixture {
    let mut fixture = Fixture { files: Vec::new(), markers: BTreeMap::new(), requests: Vec::new() };
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        match line.strip_prefix("//- ") {
            Some(name) => sections.push((name.trim().to_owned(), String::new())),
            None => {
                if let Some((_, body)) = sections.last_mut() {
                    body.push_str(line);
                }
            }
        }
    }
    for (name, body) in sections {
        if name == "requests" {
            fixture.requests = body.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
            continue;
        }
        let (clean, placed) = strip_markers(&body);
        for (marker, at) in placed {
            fixture.markers.insert(marker, (name.clone(), at));
        }
        fixture.files.push((name, clean));
    }
    fixture
}

/// Semantic tokens decoded from the protocol's relative encoding: `line:col text kind`.
fn decode_tokens(answer: &Value, text: &str) -> Value {
    const KINDS: &[&str] = &[
        "keyword",
        "string",
        "number",
        "comment",
        "function",
        "variable",
        "property",
        "enumMember",
        "type",
        "interface",
        "operator",
    ];
    let data: Vec<u64> =
        answer["data"].as_array().cloned().unwrap_or_default().iter().filter_map(Value::as_u64).collect();
    let lines: Vec<&str> = text.lines().collect();
    let (mut line, mut col, mut out) = (0u64, 0u64, Vec::new());
    for t in data.chunks(5) {
        let [dl, ds, len, ty, _] = t else { break };
        if *dl > 0 {
            line += dl;
            col = *ds;
        } else {
            col += ds;
        }
        let units: Vec<u16> = lines.get(line as usize).map_or(Vec::new(), |l| l.encode_utf16().collect());
        let piece = String::from_utf16_lossy(units.get(col as usize..(col + len) as usize).unwrap_or(&[]));
        out.push(json!(format!("{line}:{col} {piece} {}", KINDS.get(*ty as usize).unwrap_or(&"?"))));
    }
    Value::Array(out)
}

/// The answer with every range written `line:col-line:col` (0-based, as the protocol counts),
/// so that transcripts read at a glance.
fn compact(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            if let (Some(s), Some(e), 2) = (o.get("start"), o.get("end"), o.len()) {
                return json!(format!("{}:{}-{}:{}", s["line"], s["character"], e["line"], e["character"]));
            }
            Value::Object(o.iter().map(|(k, v)| (k.clone(), compact(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(compact).collect()),
        v => v.clone(),
    }
}

/// The text without its `$N` markers, and where each was.
fn strip_markers(text: &str) -> (String, Vec<(String, usize)>) {
    let (mut clean, mut placed) = (String::new(), Vec::new());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let digits: String = rest[at + 1..].chars().take_while(char::is_ascii_digit).collect();
        clean.push_str(&rest[..at]);
        if digits.is_empty() {
            clean.push('$');
            rest = &rest[at + 1..];
            continue;
        }
        placed.push((format!("${digits}"), clean.len()));
        rest = &rest[at + 1 + digits.len()..];
    }
    clean.push_str(rest);
    (clean, placed)
}

/// 0-based line and UTF-16 column of a byte offset.
fn position(text: &str, offset: usize) -> Value {
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let character: usize = before[start..].chars().map(char::len_utf16).sum();
    json!({ "line": line, "character": character })
}

/// Runs one fixture; its transcript.
fn transcript(fixture_path: &Path, dir: &Path) -> String {
    let fixture = parse_fixture(&std::fs::read_to_string(fixture_path).expect("fixture"));
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("fixture dir");
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    for (name, text) in &fixture.files {
        std::fs::write(dir.join(name), text).expect("fixture file");
        texts.insert(name.clone(), text.clone());
    }
    let mut markers = fixture.markers.clone();
    let mut client = start(dir);
    let mut versions: BTreeMap<String, i64> = BTreeMap::new();
    for (name, text) in &fixture.files {
        versions.insert(name.clone(), 1);
        let language = if name.ends_with(".proto") { "proto" } else { "evr" };
        client.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri(&dir.join(name)), "languageId": language, "version": 1, "text": text } }),
        );
    }
    let shown_prefix = format!("{}/", uri(dir));
    let show = |v: &Value| serde_json::to_string_pretty(&compact(v)).expect("json").replace(&shown_prefix, "");
    let mut out = String::new();
    let mut printed: BTreeMap<String, Value> = BTreeMap::new();
    for line in &fixture.requests {
        let words: Vec<&str> = line.splitn(3, ' ').collect();
        let at = |m: &str| -> (PathBuf, Value) {
            let (file, offset) =
                markers.get(m).unwrap_or_else(|| panic!("no marker {m} in {}", fixture_path.display()));
            (dir.join(file), position(&texts[file], *offset))
        };
        let doc = |file: &str| json!({ "uri": uri(&dir.join(file)) });
        let answer = match words.as_slice() {
            ["type", m, text] => {
                let (file, offset) = markers[*m].clone();
                // Markers in the typed text are set where they land.
                let (text, placed) = strip_markers(&text.replace("\\n", "\n"));
                texts.get_mut(&file).expect("file").insert_str(offset, &text);
                for (f, o) in markers.values_mut() {
                    if *f == file && *o > offset {
                        *o += text.len();
                    }
                }
                markers.insert(m.to_string(), (file.clone(), offset + text.len()));
                for (name, at) in placed {
                    markers.insert(name, (file.clone(), offset + at));
                }
                let version = versions.entry(file.clone()).or_insert(1);
                *version += 1;
                client.notify(
                    "textDocument/didChange",
                    json!({ "textDocument": { "uri": uri(&dir.join(&file)), "version": *version },
                            "contentChanges": [{ "text": texts[&file] }] }),
                );
                None
            }
            ["hover", m] => {
                Some(client.at("textDocument/hover", at(m), json!({})))
            }
            ["definition", m] => {
                Some(client.at("textDocument/definition", at(m), json!({})))
            }
            ["references", m] => {
                Some(client.at("textDocument/references", at(m), json!({ "context": { "includeDeclaration": true } })))
            }
            ["completion", m] => {
                let answer = client.at("textDocument/completion", at(m), json!({}));
                // Labels, kinds and details only: the full items are long and say little more.
                let items = answer.as_array().cloned().unwrap_or_default();
                Some(Value::Array(
                    items
                        .iter()
                        .map(|i| json!(format!("{} ({}) {}", i["label"].as_str().unwrap_or("?"), i["kind"], i["detail"].as_str().unwrap_or(""))))
                        .collect(),
                ))
            }
            ["rename", m, new] => {
                Some(client.at("textDocument/rename", at(m), json!({ "newName": new })))
            }
            ["prepareRename", m] => {
                Some(client.at("textDocument/prepareRename", at(m), json!({})))
            }
            ["signature", m] => {
                Some(client.at("textDocument/signatureHelp", at(m), json!({})))
            }
            ["actions", m] => {
                let (file, p) = at(m);
                Some(client.request(
                    "textDocument/codeAction",
                    json!({ "textDocument": { "uri": uri(&file) }, "range": { "start": p, "end": p }, "context": { "diagnostics": [] } }),
                ))
            }
            ["tokens", file] => {
                let answer = client.request("textDocument/semanticTokens/full", json!({ "textDocument": doc(file) }));
                Some(decode_tokens(&answer, &texts[*file]))
            }
            ["format", file] => Some(client.request(
                "textDocument/formatting",
                json!({ "textDocument": doc(file), "options": { "tabSize": 2, "insertSpaces": true } }),
            )),
            ["symbols", file] => Some(client.request("textDocument/documentSymbol", json!({ "textDocument": doc(file) }))),
            ["inlay", file] => Some(client.request(
                "textDocument/inlayHint",
                json!({ "textDocument": doc(file), "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 10000, "character": 0 } } }),
            )),
            other => panic!("{}: unknown request {other:?}", fixture_path.display()),
        };
        for (u, d) in &client.0.diagnostics {
            if printed.get(u) != Some(d) {
                out.push_str(&format!("== diagnostics {}\n{}\n", u.replace(&shown_prefix, ""), show(d)));
                printed.insert(u.clone(), d.clone());
            }
        }
        if let Some(answer) = answer {
            out.push_str(&format!("== {line}\n{}\n", show(&answer)));
        }
    }
    assert_eq!(client.stop(), 0, "evr lsp exits 0 after shutdown and exit");
    out
}

/// `exit` is 0 after `shutdown` (every fixture checks it) and 1 without, as the protocol says.
#[test]
fn lsp_exit_without_shutdown_is_an_error() {
    let dir = std::env::temp_dir().join(format!("evr-lsp-exit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let client = Client::start(Path::new(env!("CARGO_BIN_EXE_evr")), &dir).expect("evr lsp starts");
    assert_eq!(client.exit_now().expect("exits"), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lsp_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lsp");
    let scratch = std::env::temp_dir().join(format!("evr-lsp-{}", std::process::id()));
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/lsp")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    fixtures.sort();
    assert!(!fixtures.is_empty(), "no fixtures in tests/lsp");
    let mut failures = Vec::new();
    for f in &fixtures {
        let name = f.file_stem().expect("name").to_string_lossy().into_owned();
        let got = transcript(f, &scratch.join(&name));
        if let Err(diff) = evr_tests::expect_file(&f.with_extension("expect"), &got) {
            failures.push(diff);
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A small deterministic generator (xorshift64*), so a failing sequence can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `evr check --format json` on a file: (code, 0-based line, message) of each diagnostic.
fn checked(path: &Path) -> Vec<(String, u64, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_evr"))
        .args(["check", "--format", "json"])
        .arg(path)
        .output()
        .expect("evr check runs");
    let mut all: Vec<(String, u64, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|d| {
            let line = d["primary"]["line"].as_u64().unwrap_or(1) - 1;
            (d["code"].as_str().unwrap_or("").to_owned(), line, d["message"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    all.sort();
    all
}

/// Random edits of a valid bundle, with characters of every UTF-8 width: the server neither
/// crashes nor hangs, and after each edit publishes what `evr check` says of the same text.
#[test]
fn lsp_random_edits_match_check() {
    let fixture = parse_fixture(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lsp/basics.txt")).expect("fixture"),
    );
    let dir = std::env::temp_dir().join(format!("evr-lsp-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    for (name, text) in &fixture.files {
        std::fs::write(dir.join(name), text).expect("file");
    }
    let path = dir.join("rules.evr");
    let mut text = fixture.files.iter().find(|(n, _)| n == "rules.evr").expect("rules.evr").1.clone();
    let file_uri = uri(&path);
    let mut client = start(&dir);
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": file_uri, "languageId": "evr", "version": 0, "text": text } }),
    );
    const PIECES: &[&str] = &[
        "x",
        " ",
        ";",
        "{",
        "}",
        "(",
        ")",
        "\"",
        ".",
        "é",
        "日本",
        "😀",
        "\n",
        "rule r on orders ",
        "let ",
        "/*",
        "//",
        "== 1",
        "$",
    ];
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for version in 1..=60 {
        let mut at = rng.below(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        if rng.below(3) == 0 && at < text.len() {
            let mut end = (at + 1 + rng.below(12)).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            text.replace_range(at..end, "");
        } else {
            text.insert_str(at, PIECES[rng.below(PIECES.len())]);
        }
        client.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": file_uri, "version": version }, "contentChanges": [{ "text": text }] }),
        );
        // Any request makes the server analyse the edit first; hover somewhere random.
        let line = rng.below(text.lines().count().max(1));
        client.request(
            "textDocument/hover",
            json!({ "textDocument": { "uri": file_uri }, "position": { "line": line, "character": rng.below(40) } }),
        );
        client.request(
            "textDocument/completion",
            json!({ "textDocument": { "uri": file_uri }, "position": { "line": line, "character": rng.below(40) } }),
        );
        std::fs::write(&path, &text).expect("file");
        let want = checked(&path);
        let published = client.0.diagnostics.get(&file_uri).cloned().unwrap_or_default();
        let mut got: Vec<(String, u64, String)> = published
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|d| {
                let message = d["message"].as_str().unwrap_or("");
                let own = want.iter().find(|(_, _, m)| message.starts_with(m.as_str())).map_or(message, |(_, _, m)| m);
                (
                    d["code"].as_str().unwrap_or("").to_owned(),
                    d["range"]["start"]["line"].as_u64().unwrap_or(0),
                    own.to_owned(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(got, want, "after edit {version}, the server's diagnostics differ from evr check on:\n{text}");
    }
    assert_eq!(client.stop(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A real editor: Neovim's built-in LSP client, headless, attached to `evr lsp`, opens
/// `tests/neovim/rules.evr` and checks diagnostics, hover, completion, a fix by editing and a
/// rename (`tests/neovim/client.lua` drives it). Needs `nvim` (Debian's `neovim`, which
/// `.ci/run` installs); without it this fails.
#[test]
fn lsp_in_neovim() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/neovim");
    let dir = std::env::temp_dir().join(format!("evr-nvim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    for f in ["rules.evr", "shop.proto"] {
        std::fs::copy(src.join(f), dir.join(f)).expect("fixture");
    }
    let out = dir.join("out.jsonl");
    let status = Command::new("nvim")
        .args(["--headless", "--clean", "-c"])
        .arg(format!("luafile {}", src.join("client.lua").display()))
        .env("EVR", env!("CARGO_BIN_EXE_evr"))
        .env("EVR_DIR", &dir)
        .env("EVR_OUT", &out)
        .stdin(Stdio::null())
        .status()
        .expect("nvim runs (install Debian's neovim)");
    assert!(status.success(), "nvim exited with {status}");
    let checks: BTreeMap<String, Value> = std::fs::read_to_string(&out)
        .expect("the client wrote its checks")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json"))
        .map(|v| (v["check"].as_str().unwrap_or("").to_owned(), v["value"].clone()))
        .collect();
    assert!(!checks.contains_key("error"), "the client failed: {:?}", checks.get("error"));
    let diags = &checks["diagnostics"];
    assert_eq!(diags.as_array().map(Vec::len), Some(1), "{diags}");
    assert_eq!(diags[0]["code"], "E0011");
    assert_eq!(diags[0]["line"], 12);
    assert!(diags[0]["message"].as_str().unwrap_or("").contains("did you mean `paid`?"), "{diags}");
    assert_eq!(checks["hover"], json!("```evr\nOrder.buyer: Buyer = 2\n```"));
    assert_eq!(checks["completion"], json!(["uid", "country"]));
    assert_eq!(checks["diagnostics after the fix"], json!(0));
    assert_eq!(
        checks["after rename"],
        json!(["rule one on orders {", "  let buyer_id = buyer.uid;", "  emit flags { key: buyer_id, weight: 1 };"])
    );
    let _ = std::fs::remove_dir_all(&dir);
}
