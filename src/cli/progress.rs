//! A progress display for long imports (`nix-store --add`, `--import`):
//! entries and bytes stored so far, the rate and elapsed time, redrawn on
//! stderr a few times a second, and only when stderr is a terminal (quiet
//! in pipes and logs).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::store::IngestProgress;

/// The display; cleared when finished.
pub struct Progress {
    bar: ProgressBar,
    entries: AtomicU64,
}

impl Progress {
    /// A display on stderr, or `None` when stderr is not a terminal.
    pub fn on_terminal(what: &'static str) -> Option<Arc<Progress>> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8));
        let style = ProgressStyle::with_template(
            "{spinner} {prefix}: {msg} entries, {binary_bytes} ({binary_bytes_per_sec}), {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_prefix(what);
        bar.set_message("0");
        bar.enable_steady_tick(Duration::from_millis(125));
        Some(Arc::new(Progress {
            bar,
            entries: AtomicU64::new(0),
        }))
    }

    /// Runs `f` (which prints) with the display hidden.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Removes the display.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl IngestProgress for Progress {
    fn bytes(&self, n: u64) {
        self.bar.inc(n);
    }

    fn entry(&self) {
        let n = self.entries.fetch_add(1, Ordering::Relaxed) + 1;
        // The message is only redrawn a few times a second; format rarely.
        if n.is_multiple_of(64) {
            self.bar.set_message(n.to_string());
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
