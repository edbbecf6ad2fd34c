//! Reloading a running bundle: a change of its files (watched with notify, debounced) or
//! SIGHUP checks it again and, when it checks and compiles, makes it the live version; one
//! line on stderr says which version is live, what was compiled and how long it took. A
//! version that does not check or compile is rejected whole — its diagnostics are shown, the
//! running version goes on — and counted.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use evr_compiler::{Analysis, Parses};
use evr_runtime::live::Live;
use notify::{RecursiveMode, Watcher};

use crate::load;
use crate::run::{report_diagnostics, report_setup};

/// Editors write a file in several steps (truncate, write, rename); changes this close
/// together are one change.
const DEBOUNCE: Duration = Duration::from_millis(10);

/// What the reloads of a run came to.
pub struct Reloads {
    accepted: Arc<AtomicU64>,
    rejected: Arc<AtomicU64>,
    /// From trigger to live, of every accepted reload and of the last one, in microseconds.
    took_us: Arc<(AtomicU64, AtomicU64)>,
    ask: Mutex<Sender<Trigger>>,
    /// Kept alive: dropping it stops the watching.
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Reloads {
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// How long accepted reloads took from their trigger until their version was live: all
    /// of them together, and the last one.
    pub fn took(&self) -> (Duration, Duration) {
        let (all, last) = &*self.took_us;
        (Duration::from_micros(all.load(Ordering::Relaxed)), Duration::from_micros(last.load(Ordering::Relaxed)))
    }

    /// Reloads now, as SIGHUP does, and waits for how it went.
    pub fn reload_now(&self) -> Outcome {
        self.ask_for(Trigger::new(true))
    }

    /// Makes the built bundle `bytes` (from `from`, a control topic) the next version unless
    /// it is the running one, and waits for how it went.
    pub fn reload_built(&self, bytes: Vec<u8>, from: String) -> Outcome {
        let mut trigger = Trigger::new(false);
        trigger.built = Some((bytes, from));
        self.ask_for(trigger)
    }

    fn ask_for(&self, mut trigger: Trigger) -> Outcome {
        let (tx, rx) = channel();
        trigger.replies.push(tx);
        let sent = self.ask.lock().unwrap_or_else(|p| p.into_inner()).send(trigger);
        sent.map_err(|_| "reloading has stopped".to_owned())?;
        rx.recv().map_err(|_| "reloading has stopped".to_owned())?
    }
}

/// Starts watching `dirs` (each with whether to watch it recursively) and SIGHUP; each trigger
/// reloads the bundle at `paths` into `live`. The `sources` a run reads must stay in every
/// version, framed as they were. `read` is
/// what the analysis the run began with read.
pub fn start(
    paths: Vec<PathBuf>,
    dirs: Vec<(PathBuf, bool)>,
    live: Arc<Live>,
    sources: Vec<String>,
    mut parses: Parses,
    read: Read,
) -> Reloads {
    let (tx, rx) = channel::<Trigger>();
    let watcher = watch(&dirs, tx.clone());
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP]) {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for _ in signals.forever() {
                if tx.send(Trigger::new(true)).is_err() {
                    return;
                }
            }
        });
    }
    let reloads = Reloads {
        accepted: Arc::new(AtomicU64::new(0)),
        rejected: Arc::new(AtomicU64::new(0)),
        took_us: Arc::new((AtomicU64::new(0), AtomicU64::new(0))),
        ask: Mutex::new(tx),
        _watcher: watcher,
    };
    let (accepted, rejected, took_us) = (reloads.accepted.clone(), reloads.rejected.clone(), reloads.took_us.clone());
    std::thread::spawn(move || {
        // What the last reload read: a file event that changes none of it (an editor touching
        // a file, one save reported twice) makes no new version; SIGHUP always does.
        let mut read = read;
        while let Some(trigger) = next_trigger(&rx) {
            let outcome = reload(&paths, &trigger, &live, &sources, &mut parses, &mut read);
            match &outcome {
                Ok(None) => {}
                Ok(Some(line)) => {
                    let took = trigger.at.elapsed();
                    took_us.0.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
                    took_us.1.store(took.as_micros() as u64, Ordering::Relaxed);
                    accepted.fetch_add(1, Ordering::Relaxed);
                    eprintln!("evr: {line} ({:.1} ms after the change)", took.as_secs_f64() * 1e3);
                }
                Err(why) => {
                    rejected.fetch_add(1, Ordering::Relaxed);
                    eprintln!("evr: reload rejected: {why}; version {} goes on", live.current().version());
                }
            }
            for reply in trigger.replies {
                let _ = reply.send(outcome.clone());
            }
        }
    });
    reloads
}

fn watch(dirs: &[(PathBuf, bool)], tx: Sender<Trigger>) -> Option<notify::RecommendedWatcher> {
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        let ours = event.paths.iter().any(|p| p.extension().is_some_and(|e| e == "evr" || e == "proto" || e == "evrb"));
        if ours {
            let mut trigger = Trigger::new(false);
            // The rule files it names are read again; an event that may stand for more (the
            // watcher lost track) reads them all.
            trigger.changed = (!event.need_rescan()).then(|| event.paths.into_iter().collect());
            let _ = tx.send(trigger);
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("evr: cannot watch the bundle's files ({e}); SIGHUP still reloads it");
            return None;
        }
    };
    for (dir, recursive) in dirs {
        let mode = if *recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
        if let Err(e) = watcher.watch(dir, mode) {
            eprintln!("evr: cannot watch {} ({e}); SIGHUP still reloads the bundle", dir.display());
        }
    }
    Some(watcher)
}

/// What set off a reload: when, whether someone asked for it (SIGHUP, the admin endpoint)
/// rather than a file event reported a change, the built bundle to load instead of the
/// bundle's files (from a control topic, with where it came from), and who waits to hear how
/// it went.
struct Trigger {
    at: Instant,
    asked: bool,
    built: Option<(Vec<u8>, String)>,
    /// The files a file event named, as the watched directories give them: only these are
    /// read again (`None`: every file, as when someone asked).
    changed: Option<HashSet<PathBuf>>,
    replies: Vec<Sender<Outcome>>,
}

impl Trigger {
    fn new(asked: bool) -> Trigger {
        Trigger { at: Instant::now(), asked, built: None, changed: None, replies: Vec::new() }
    }
}

/// How a reload went: the line logged for a new version (`None` when nothing changed), or why
/// it was rejected.
pub type Outcome = Result<Option<String>, String>;

/// The next burst of triggers as one: from its first, asked for when any of it was.
fn next_trigger(rx: &Receiver<Trigger>) -> Option<Trigger> {
    let mut first = rx.recv().ok()?;
    loop {
        match rx.recv_timeout(DEBOUNCE) {
            Ok(t) => {
                first.asked |= t.asked;
                first.built = t.built.or(first.built);
                first.changed = match (first.changed, t.changed) {
                    (Some(mut a), Some(b)) => {
                        a.extend(b);
                        Some(a)
                    }
                    _ => None,
                };
                first.replies.extend(t.replies);
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return Some(first),
        }
    }
}

/// Checks and loads the bundle again (or the `built` one); the line to log, or why it was
/// rejected.
fn reload(
    paths: &[PathBuf],
    trigger: &Trigger,
    live: &Live,
    sources: &[String],
    parses: &mut Parses,
    read: &mut Read,
) -> Result<Option<String>, String> {
    let built = trigger.built.as_ref();
    let analysis = match built {
        Some((bytes, from)) => load::analyze_built(bytes, from),
        None => load::analyze_reusing(paths, parses, trigger.changed.as_ref()),
    };
    let analysis = match analysis {
        Ok(a) => a,
        Err(load::Problem::Io(why) | load::Problem::Bundle(why)) => return Err(why),
    };
    if read.again(&analysis) && !trigger.asked {
        parses.keep(&analysis.files, analysis.modules);
        return Ok(None);
    }
    if analysis.has_errors() {
        report_diagnostics(&analysis);
        let summary = evr_compiler::diag::human::summary(&analysis.diagnostics).unwrap_or_default();
        parses.keep(&analysis.files, analysis.modules);
        return Err(format!("the bundle does not check ({summary})"));
    }
    let running = live.current();
    let why = sources.iter().find_map(|source| match analysis.program.sources.iter().find(|s| s.name == *source) {
        None => Some(format!("the new version has no source `{source}`, which this run reads")),
        Some(s)
            if running.program().sources.iter().find(|o| o.name == *source).is_some_and(|o| o.format != s.format) =>
        {
            Some(format!("the new version changes how source `{source}` is framed, which this run reads as it began"))
        }
        Some(_) => None,
    });
    if let Some(why) = why {
        parses.keep(&analysis.files, analysis.modules);
        return Err(why);
    }
    let Analysis { files, program, schema, modules, .. } = analysis;
    parses.keep(&files, modules);
    match live.reload(program, schema) {
        Ok(report) => Ok(Some(match built {
            Some((_, from)) => format!("{} (from {from})", report.summary()),
            None => report.summary(),
        })),
        Err(why) => {
            report_setup(&files, &why);
            Err("the new version does not compile".to_owned())
        }
    }
}

/// What the last analysis read — the text of every rule file, and the schemas — so that a
/// file event that changes none of it makes no version. A text the analysis took from the one
/// before (a file no event named) is the same text, whose hash is not worked out again.
pub struct Read {
    hash: Option<u64>,
    /// Per file name, the text last hashed and its hash.
    texts: HashMap<String, (Arc<str>, u64)>,
}

impl Read {
    /// What `analysis` read.
    pub fn of(analysis: &Analysis) -> Read {
        let mut read = Read { hash: None, texts: HashMap::new() };
        read.again(analysis);
        read
    }

    /// Whether `analysis` read what the last one did; it is then what was read last.
    fn again(&mut self, analysis: &Analysis) -> bool {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut texts = HashMap::with_capacity(analysis.files.len());
        for (_, f) in analysis.files.iter() {
            let text_hash = match self.texts.remove(&f.name) {
                Some((text, hash)) if Arc::ptr_eq(&text, &f.text) => hash,
                _ => {
                    let mut t = std::collections::hash_map::DefaultHasher::new();
                    f.text.hash(&mut t);
                    t.finish()
                }
            };
            (&f.name, text_hash).hash(&mut h);
            texts.insert(f.name.clone(), (Arc::clone(&f.text), text_hash));
        }
        evr_compiler::meaning::schema_hash(&analysis.schema).hash(&mut h);
        self.texts = texts;
        let hash = h.finish();
        self.hash.replace(hash) == Some(hash)
    }
}
