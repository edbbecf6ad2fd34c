//! The live version of a bundle: where a reload publishes a new version and executors that
//! follow reloads take it, each at its next event boundary, so that every event is evaluated
//! wholly by one version. A version replaced by a reload is kept here until no executor runs
//! it, and then freed (native code included) by the next reload, on the reloading thread:
//! freeing a large version takes milliseconds, which an executor must not spend between two
//! events.

use std::sync::Arc;

use arc_swap::ArcSwap;
use evr_compiler::ir::Program;
use evr_compiler::schema::Schema;

use crate::loaded::{Loaded, Reloaded, SetupError};

pub struct Live {
    current: ArcSwap<Loaded>,
    /// Versions replaced by a reload, until no executor holds them.
    retired: std::sync::Mutex<Vec<Arc<Loaded>>>,
    /// Reloads go one at a time: each is diffed against the version before it.
    reloading: std::sync::Mutex<()>,
}

impl Live {
    pub fn new(loaded: Arc<Loaded>) -> Arc<Live> {
        Arc::new(Live {
            current: ArcSwap::new(loaded),
            retired: std::sync::Mutex::new(Vec::new()),
            reloading: std::sync::Mutex::new(()),
        })
    }

    /// The version live now.
    pub fn current(&self) -> Arc<Loaded> {
        self.current.load_full()
    }

    /// The version live now, without touching its reference count (what executors check at
    /// every event).
    pub(crate) fn current_ref(&self) -> arc_swap::Guard<Arc<Loaded>> {
        self.current.load()
    }

    /// Makes `program` the next version: diffed against the live one, compiling only what
    /// changed, then published. A version that fails to compile is rejected whole; the live one
    /// goes on.
    pub fn reload(&self, program: Program, schema: Schema) -> Result<Reloaded, SetupError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let (next, report) = self.current().reload(program, schema)?;
        let replaced = self.current.swap(Arc::new(next));
        self.retired.lock().unwrap_or_else(|p| p.into_inner()).push(replaced);
        // Once the new version is live: freeing the old ones must not delay it.
        self.collect();
        Ok(report)
    }

    /// Frees the replaced versions no executor runs any more (here, not on an executor's
    /// thread); a reload does it once its version is live. Returns how many are still held.
    pub fn collect(&self) -> usize {
        let mut retired = self.retired.lock().unwrap_or_else(|p| p.into_inner());
        retired.retain(|v| Arc::strong_count(v) > 1);
        retired.len()
    }
}
