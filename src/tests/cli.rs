//! The `evr` command as users run it: exit statuses, output formats, colour.

use std::path::Path;
use std::process::Command;

mod kafka;
mod lsp;

fn evr(args: &[&str]) -> (i32, String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_evr"))
        .args(args)
        .current_dir(root)
        .env_remove("NO_COLOR")
        .output()
        .expect("evr runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// (arguments, exit status, text that must appear in stdout or stderr)
const CASES: &[(&[&str], i32, &str)] = &[
    (&["fmt", "--check", "examples"], 0, ""),
    (&["fmt", "--check", "tests/fmt/layout.evr"], 1, "tests/fmt/layout.evr: not formatted"),
    (&["fmt", "--check", "tests/fmt/broken.evr"], 1, "it has syntax errors"),
    (&["fmt", "--check", "no/such/dir"], 2, "cannot read no/such/dir"),
    (&["check", "examples/feed"], 0, ""),
    (&["check", "tests/check/valid_everything.evr"], 0, ""),
    (&["check", "tests/check/w0001_never_null.evr"], 0, "[W0001] Warning"),
    (&["check", "tests/check/e0009_optional.evr"], 1, "e0009_optional.evr:12:"),
    (&["check", "examples/feed", "tests/check/e0011_unknown_sink.evr"], 1, "did you mean `clean`?"),
    (&["check", "no/such/dir"], 2, "cannot read no/such/dir"),
    (&["check"], 2, "PATHS"),
    (&["run", "examples/feed", "--input", "examples/feed/events.jsonl"], 0, "\"sink\":\"interactions\""),
    (&["run", "examples/feed", "--input", "examples/feed/events.jsonl", "--source", "client_log"], 0, "\"line\":9"),
    (&["run", "examples/feed", "--input", "no/such/file"], 2, "cannot read no/such/file: no such file\n"),
    (&["run", "examples/feed", "--input", "examples"], 2, "cannot read examples: it is a directory"),
    (
        &["run", "examples/feed", "--input", "examples/feed/events.jsonl", "--source", "nope"],
        2,
        "its sources are: client_log",
    ),
    (&["run", "tests/check/e0009_optional.evr", "--input", "examples/feed/events.jsonl"], 1, "nothing was run"),
    (
        &["run", "examples/feed", "--input", "examples/feed/events.jsonl", "--engine", "interp"],
        0,
        "\"sink\":\"risk_review\"",
    ),
    (
        &["run", "examples/feed", "--input", "examples/feed/events.jsonl", "--engine", "jit"],
        0,
        "\"sink\":\"risk_review\"",
    ),
    (
        &["run", "tests/check/valid_list_of_lists.evr", "--input", "examples/feed/events.jsonl"],
        0,
        "\"sink\":\"tallies\"",
    ),
    (
        &["run", "tests/check/valid_list_of_lists.evr", "--input", "examples/feed/events.jsonl", "--engine", "interp"],
        0,
        "\"sink\":\"tallies\"",
    ),
    (&["bench", "examples/feed", "--input", "examples/feed/events.jsonl", "--runs", "1"], 0, "(engine: jit)"),
    (&["bench", "examples/feed", "--input", "examples/feed/events.jsonl", "--runs", "0"], 2, "--runs"),
    (&["test", "examples/feed"], 0, "4 passed, 0 failed"),
    (&["test", "tests/rule_tests/shop"], 1, "5 passed, 5 failed"),
    (&["test", "tests/check/e0013_route_mismatch.evr"], 1, "nothing was run"),
    (&["explain", "E0009"], 0, "?? default"),
    (&["explain", "e0013"], 0, "route"),
    (&["explain", "E9999"], 2, "unknown code"),
];

#[test]
fn exit_statuses_and_messages() {
    for (args, status, text) in CASES {
        let (code, out, err) = evr(args);
        assert_eq!(code, *status, "evr {args:?} exited {code}:\n{out}{err}");
        assert!(out.contains(text) || err.contains(text), "evr {args:?} did not print {text:?}:\n{out}{err}");
    }
}

#[test]
fn run_reads_standard_input() {
    use std::io::Write;
    use std::process::Stdio;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_evr"))
        .args(["run", "examples/feed", "--input", "-"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("evr runs");
    child.stdin.take().unwrap().write_all(b"{\"event\":\"ad_click\",\"app_id\":3}\nnot json\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains(r#"{"sink":"ads_events","value":{"event":"ad_click","app_id":3}}"#), "{text}");
    assert!(text.contains(r#""sink":"dirty""#) && text.contains(r#""line":2"#), "{text}");
}

#[test]
fn junit_counts_tests_and_names_failures() {
    let junit = std::env::temp_dir().join(format!("evr-junit-{}.xml", std::process::id()));
    let (code, _, _) = evr(&["test", "tests/rule_tests/shop", "--junit", junit.to_str().unwrap()]);
    assert_eq!(code, 1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    std::fs::remove_file(&junit).ok();
    assert!(xml.contains(r#"<testsuites name="evr" tests="10" failures="5">"#), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 10);
    assert_eq!(xml.matches("<failure ").count(), 5);
    assert!(xml.contains(r#"<testcase name="a wrong field value fails""#));
    assert!(xml.contains("score: expected 2, got 3"));
}

#[test]
fn no_colour_when_not_a_terminal() {
    let (_, out, err) = evr(&["check", "tests/check/e0008_type_mismatch.evr"]);
    assert!(!out.contains('\u{1b}') && !err.contains('\u{1b}'), "escape codes in piped output");
}

#[test]
fn json_format_is_one_object_per_diagnostic() {
    let (code, out, _) = evr(&["check", "--format", "json", "tests/check/e0013_route_mismatch.evr"]);
    assert_eq!(code, 1);
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines.len(), 1, "{out}");
    let d = &lines[0];
    assert_eq!(d["code"], "E0013");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["primary"]["line"], 12);
    assert_eq!(d["primary"]["column"], 27);
    assert!(d["message"].as_str().unwrap().contains("Tally"));
    assert!(d["hint"].as_str().unwrap().contains("emit tallies"));
}

/// Every run ends with a summary on stderr: events, outputs per sink, dropped, dirty, and what
/// `@shadow` units would have done.
#[test]
fn runs_end_with_a_summary() {
    let (code, out, err) = evr(&["run", "tests/run/shadow", "--input", "tests/run/shadow/input.jsonl"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("\"sink\":\"trial\""), "{out}");
    assert_eq!(
        err.trim(),
        "evr: 4 events: 3 outputs (out 3), 1 dropped, 1 dirty; shadow: 4 outputs not written (trial 4), 1 events not dropped"
    );
}

/// Live input: each event's outputs are written as soon as the input has nothing more ready,
/// and SIGTERM stops the run with its summary and exit status 0.
#[test]
fn live_input_is_flushed_and_sigterm_stops_cleanly() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_evr"))
        .args(["run", "tests/run/shadow", "--input", "-"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("evr runs");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdin.write_all(b"{\"id\":\"first\"}\n").unwrap();
    stdin.flush().unwrap();
    // The input stays open: the output must come before it ends.
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "{\"sink\":\"out\",\"value\":{\"id\":\"first\"}}\n");
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("evr: 1 events (stopped): 1 outputs (out 1)"), "{err}");
}

/// A bundle of one protobuf source of `kinds.v1.Probe` (`probes`) and a JSON sink `out` with
/// `rules`, and a file of `records`, in a directory of their own: (directory, bundle, events).
fn protobuf_bundle(name: &str, rules: &str, records: &[u8]) -> (std::path::PathBuf, String, String) {
    let dir = std::env::temp_dir().join(format!("evr-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check/schemas/kinds.proto");
    let text = format!(
        "use \"{}\";\nuse kinds.v1.Probe;\nsource probes: Probe as protobuf;\nsink out: Probe as json;\n{rules}\n",
        schema.display()
    );
    std::fs::write(dir.join("rules.evr"), text).unwrap();
    std::fs::write(dir.join("events.bin"), records).unwrap();
    let path = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    let (bundle, events) = (path("rules.evr"), path("events.bin"));
    (dir, bundle, events)
}

/// The input is framed as its source is declared: a protobuf source reads length-delimited
/// records without `--input-format`, and a framing of the other format is refused up front.
#[test]
fn input_format_follows_the_source() {
    // Probe { id: "p" }, preceded by its length.
    let (dir, bundle, events) = protobuf_bundle("framing", "rule r on probes => route out;", &[0x03, 0x0a, 0x01, b'p']);
    let (code, out, err) = evr(&["run", &bundle, "--input", &events]);
    assert_eq!((code, out.as_str()), (0, "{\"sink\":\"out\",\"value\":{\"id\":\"p\"}}\n"), "{err}");
    let (code, _, err) = evr(&["run", &bundle, "--input", &events, "--input-format", "json"]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 2);
    assert!(err.contains("source `probes` is declared `as protobuf`"), "{err}");
}

/// In protobuf records, the last member of a oneof on the wire is the one set, under both
/// engines (the JIT decodes into frames, the interpreter into value trees).
#[test]
fn protobuf_oneof_last_member_wins() {
    let rules = "rule r on probes => emit out { id: if has(text) { \"text\" } else if has(num) { \"num\" } else { \"none\" } };";
    // { text: "a", num: 5 }, { num: 5, text: "a" }, { }: each preceded by its length.
    let records = [5, 0x52, 0x01, b'a', 0x58, 0x05, 5, 0x58, 0x05, 0x52, 0x01, b'a', 0];
    let (dir, bundle, events) = protobuf_bundle("oneof", rules, &records);
    for engine in ["jit", "interp"] {
        let (code, out, err) = evr(&["run", &bundle, "--input", &events, "--engine", engine]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            out,
            "{\"sink\":\"out\",\"value\":{\"id\":\"num\"}}\n{\"sink\":\"out\",\"value\":{\"id\":\"text\"}}\n{\"sink\":\"out\",\"value\":{\"id\":\"none\"}}\n",
            "{engine}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `evr run BUNDLE --input INPUT --follow`, its output and errors piped.
fn run_following(bundle: &Path, input: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_evr"))
        .args(["run", bundle.to_str().unwrap(), "--input", input.to_str().unwrap(), "--follow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("evr runs")
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("evr-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `evr build` writes a bundle that `run`, `test`, `bench` and `check` take as they take its
/// sources; `evr inspect` lists its units; a damaged one is refused with a reason.
#[test]
fn built_bundles_serve_every_command() {
    let dir = temp_dir("build");
    let bundle = dir.join("feed.evrb");
    let bundle = bundle.to_str().unwrap();
    let (code, out, err) = evr(&["build", "examples/feed", "-o", bundle]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("units"), "{out}");
    let (code, out, err) = evr(&["inspect", bundle]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("built by evr ") && out.contains("rule ") && out.contains("(source client_log)"), "{out}");
    let events = "examples/feed/events.jsonl";
    for engine in ["jit", "interp"] {
        let from_sources = evr(&["run", "examples/feed", "--input", events, "--engine", engine]);
        let from_bundle = evr(&["run", bundle, "--input", events, "--engine", engine]);
        assert_eq!(from_sources, from_bundle, "{engine}");
    }
    assert_eq!(evr(&["test", "examples/feed"]).0, evr(&["test", bundle]).0);
    assert!(evr(&["test", bundle]).1.contains("passed"));
    assert_eq!(evr(&["check", bundle]).0, 0);
    assert_eq!(evr(&["bench", bundle, "--input", events, "--runs", "1"]).0, 0);
    let bytes = std::fs::read(bundle).unwrap();
    let damaged = dir.join("damaged.evrb");
    std::fs::write(&damaged, &bytes[..bytes.len() / 2]).unwrap();
    let (code, _, err) = evr(&["run", damaged.to_str().unwrap(), "--input", events]);
    assert_eq!(code, 1);
    assert!(err.contains("damaged.evrb: the bundle is damaged"), "{err}");
    let (code, _, err) = evr(&["inspect", "examples/feed/events.jsonl"]);
    assert_eq!(code, 1);
    assert!(err.contains("not a built bundle"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `evr run --follow` tails its input and reloads its bundle when a rule file changes or on
/// SIGHUP; each output says which version made it, a version that does not check is rejected
/// (the live one goes on), and the summary counts both.
#[test]
fn follow_tails_and_reloads() {
    use std::io::{BufRead, BufReader, Write};
    let dir = temp_dir("follow");
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check/schemas/kinds.proto");
    let rules = |tag: &str| {
        format!(
            "use \"{}\";\nuse kinds.v1.Probe;\nsource probes: Probe as json;\nsink out: Probe as json;\nrule kept on probes => emit out {{ id: id + \"{tag}\" }};\n",
            schema.display()
        )
    };
    let (bundle, input) = (dir.join("rules.evr"), dir.join("events.jsonl"));
    // Rule files are replaced whole, as editors save them, so no reload sees half a file.
    let save = |text: String| {
        let tmp = dir.join("rules.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &bundle).unwrap();
    };
    save(rules("-one"));
    std::fs::write(&input, "{\"id\":\"a\"}\n").unwrap();
    let mut child = run_following(&bundle, &input);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let mut next = |from: &mut dyn BufRead| {
        line.clear();
        from.read_line(&mut line).unwrap();
        line.clone()
    };
    assert_eq!(next(&mut stdout), "{\"sink\":\"out\",\"version\":1,\"value\":{\"id\":\"a-one\"}}\n");
    let append = |text: &str| {
        let mut f = std::fs::OpenOptions::new().append(true).open(&input).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    // A change of the rule file: version 2, and only `kept` changed.
    save(rules("-two"));
    let reloaded = next(&mut stderr);
    assert!(reloaded.starts_with("evr: version 2 live: changed kept"), "{reloaded}");
    append("{\"id\":\"b\"}\n");
    assert_eq!(next(&mut stdout), "{\"sink\":\"out\",\"version\":2,\"value\":{\"id\":\"b-two\"}}\n");
    // A version that does not check is rejected; the live one goes on.
    save(rules("-three").replace("emit out", "emit nowhere"));
    let mut rejected = String::new();
    while !rejected.contains("reload rejected") {
        rejected = next(&mut stderr);
    }
    assert!(rejected.contains("version 2 goes on"), "{rejected}");
    // Nor can a version read the input another way than the run began with.
    save(rules("-three").replace("Probe as json;\nsink", "Probe as protobuf;\nsink"));
    let mut framed = String::new();
    while !framed.contains("reload rejected") {
        framed = next(&mut stderr);
    }
    assert!(framed.contains("how source `probes` is framed"), "{framed}");
    append("{\"id\":\"c\"}\n");
    assert_eq!(next(&mut stdout), "{\"sink\":\"out\",\"version\":2,\"value\":{\"id\":\"c-two\"}}\n");
    // Rotation: the file is replaced by a new one, read from its start.
    std::fs::rename(&input, dir.join("events.jsonl.1")).unwrap();
    std::fs::write(&input, "{\"id\":\"d\"}\n").unwrap();
    assert_eq!(next(&mut stdout), "{\"sink\":\"out\",\"version\":2,\"value\":{\"id\":\"d-two\"}}\n");
    // SIGHUP reloads too (the file as it is now, fixed).
    std::fs::write(dir.join("other.txt"), "not a rule file").unwrap();
    let pid = child.id().to_string();
    save(rules("-four"));
    let mut live = String::new();
    while !live.contains("version 3 live") {
        live = next(&mut stderr);
    }
    // Saving the same text again makes no version; SIGHUP makes one whatever changed.
    save(rules("-four"));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let mut hup = String::new();
    while !hup.contains("version 4 live") {
        hup = next(&mut stderr);
    }
    assert!(hup.contains("no unit changed"), "{hup}");
    append("{\"id\":\"e\"}\n");
    assert_eq!(next(&mut stdout), "{\"sink\":\"out\",\"version\":4,\"value\":{\"id\":\"e-four\"}}\n");
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(rest.contains("evr: 5 events (stopped): 5 outputs (out 5)"), "{rest}");
    assert!(rest.contains("reloads: 3 live, 2 rejected"), "{rest}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A directory bundle followed: a file event reads again the files it names, and the others
/// are taken as the last analysis read them — so every change is seen, in whichever file,
/// twice in a row in one file, and in files added and removed (found by listing the bundle).
#[test]
fn follow_reads_again_the_files_that_changed() {
    use std::io::{BufRead, BufReader, Write};
    let dir = temp_dir("follow-dir");
    let (bundle, input) = (dir.join("rules"), dir.join("events.jsonl"));
    std::fs::create_dir_all(&bundle).unwrap();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check/schemas/kinds.proto");
    let save = |file: &str, text: String| {
        let tmp = dir.join("rules.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, bundle.join(file)).unwrap();
    };
    let rule = |name: &str, tag: &str| format!("rule {name} on probes => emit out {{ id: id + \"{tag}\" }};\n");
    save(
        "a_header.evr",
        format!(
            "use \"{}\";\nuse kinds.v1.Probe;\nsource probes: Probe as json;\nsink out: Probe as json;\n",
            schema.display()
        ),
    );
    save("b.evr", rule("b", "-b1"));
    save("c.evr", rule("c", "-c1"));
    std::fs::write(&input, "").unwrap();
    let mut child = run_following(&bundle, &input);
    // A change that is never seen must fail the test, not hang it: the host is stopped after a
    // minute, and the reads below then end.
    let (pid, done) = (child.id().to_string(), std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            for _ in 0..600 {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
            }
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        })
    };
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let next = |from: &mut dyn BufRead| {
        let mut line = String::new();
        from.read_line(&mut line).unwrap();
        line
    };
    // The ids an event comes out with, one per rule.
    let mut ids = |event: &str, outputs: usize| -> Vec<String> {
        let mut f = std::fs::OpenOptions::new().append(true).open(&input).unwrap();
        f.write_all(format!("{{\"id\":\"{event}\"}}\n").as_bytes()).unwrap();
        let mut seen: Vec<String> = (0..outputs)
            .map(|_| {
                let line = next(&mut stdout);
                line.split("\"id\":\"").nth(1).unwrap_or_default().trim_end_matches("\"}}\n").to_owned()
            })
            .collect();
        seen.sort();
        seen
    };
    assert_eq!(ids("x", 2), ["x-b1", "x-c1"]);
    let mut reloaded = |version: u64| {
        let mut seen = String::new();
        while !seen.contains(&format!("version {version} live")) {
            seen = next(&mut stderr);
            assert!(!seen.is_empty() && !seen.contains("rejected"), "{seen}");
        }
        seen
    };
    save("c.evr", rule("c", "-c2"));
    assert!(reloaded(2).contains("changed c"));
    assert_eq!(ids("y", 2), ["y-b1", "y-c2"]);
    save("c.evr", rule("c", "-c3"));
    assert!(reloaded(3).contains("changed c"));
    save("b.evr", rule("b", "-b2"));
    assert!(reloaded(4).contains("changed b"));
    assert_eq!(ids("z", 2), ["z-b2", "z-c3"]);
    save("d.evr", rule("d", "-d1"));
    assert!(reloaded(5).contains("added d"));
    assert_eq!(ids("w", 3), ["w-b2", "w-c3", "w-d1"]);
    std::fs::remove_file(bundle.join("b.evr")).unwrap();
    assert!(reloaded(6).contains("removed b"));
    assert_eq!(ids("v", 2), ["v-c3", "v-d1"]);
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    watchdog.join().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
