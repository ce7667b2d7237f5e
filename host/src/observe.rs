//! Where what a person should see goes: the library never prints; each
//! front end gives an [`Observer`] and decides where lines go. [`Busy`]
//! draws a compile's progress on a writer the front end chooses.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Hears what a person watching should see: refusals, limits reached,
/// notes. The library never prints; a front end decides where lines go.
pub trait Observer: Send + Sync {
    /// A line for the person (without any prefix; it may quote what a
    /// command chose, so escape it before showing it on a terminal).
    fn note(&self, line: &str);
    /// A line of detail (the layers a command ran under, the variables
    /// left out of its environment), worth showing when asked to say more.
    fn detail(&self, line: &str) {
        let _ = line;
    }
    /// WebAssembly is being compiled for this machine (seconds, the first
    /// time a program runs): what says so until the compile ends, when
    /// the value is dropped. Nothing by default.
    fn compiling(&self) -> Option<Busy> {
        None
    }
}

/// An observer that keeps nothing.
pub struct Quiet;

impl Observer for Quiet {
    fn note(&self, _: &str) {}
}

/// What cordon says, without a terminal (an agent calling cordon), when a
/// compile takes a while: once per process. The first command would
/// otherwise stall for seconds with nothing said.
pub const COMPILING: &str = "cordon: compiling WebAssembly for this machine, once (it is cached \
                             for later runs; `cordon warm` compiles the built-in tools ahead)";

/// Says that a compile runs, from a delay on until it is dropped: a
/// spinner, erased at the end, on a terminal; else the line
/// [`COMPILING`], once per process.
pub struct Busy {
    done: Arc<AtomicBool>,
    drawer: Option<JoinHandle<()>>,
}

impl Busy {
    /// Starts saying it on `out` once `after` has passed: animated when
    /// `out` is a terminal (`animate`).
    pub fn compiling(after: Duration, mut out: impl Write + Send + 'static, animate: bool) -> Busy {
        let done = Arc::new(AtomicBool::new(false));
        let drawing = Arc::clone(&done);
        let drawer = std::thread::spawn(move || {
            let done = drawing;
            // A park may end early, unasked: wait out the whole delay.
            let start = Instant::now();
            while !done.load(Ordering::Acquire) {
                match after.checked_sub(start.elapsed()) {
                    Some(left) if !left.is_zero() => std::thread::park_timeout(left),
                    _ => break,
                }
            }
            if !animate {
                static SAID: std::sync::Once = std::sync::Once::new();
                if !done.load(Ordering::Acquire) {
                    SAID.call_once(|| {
                        let _ = writeln!(out, "{COMPILING}");
                    });
                }
                return;
            }
            let mut shown = false;
            for frame in ['|', '/', '-', '\\'].iter().cycle() {
                if done.load(Ordering::Acquire) {
                    break;
                }
                let _ = write!(
                    out,
                    "\rcordon: compiling WebAssembly, once (then cached) {frame}"
                );
                shown = true;
                std::thread::park_timeout(Duration::from_millis(100));
            }
            if shown {
                let _ = write!(out, "\r\x1b[K");
            }
        });
        Busy {
            done,
            drawer: Some(drawer),
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        if let Some(drawer) = self.drawer.take() {
            drawer.thread().unpark();
            let _ = drawer.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::Buffer;

    /// What the spinner drew, readable while it draws.
    fn text(drawn: &Buffer) -> String {
        String::from_utf8(drawn.bytes()).unwrap()
    }

    /// Work that outlasts the delay, however fast the machine: it ends
    /// only once the spinner has drawn.
    #[test]
    fn slow_work_shows_a_spinner_then_erases_it() {
        let drawn = Buffer::default();
        let seen = drawn.clone();
        let busy = Busy::compiling(Duration::ZERO, drawn.clone(), true);
        while !text(&seen).contains("compiling") {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(busy);
        let text = text(&drawn);
        assert!(
            text.starts_with("\rcordon: compiling WebAssembly, once (then cached) |"),
            "{text:?}"
        );
        assert!(text.ends_with("\r\x1b[K"), "{text:?}");
    }

    /// Without a terminal: one line, once, and nothing to erase.
    #[test]
    fn slow_work_without_a_terminal_says_one_line() {
        let drawn = Buffer::default();
        let seen = drawn.clone();
        let busy = Busy::compiling(Duration::ZERO, drawn.clone(), false);
        while !text(&seen).contains("compiling") {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(busy);
        assert_eq!(text(&drawn), format!("{COMPILING}\n"));
    }

    #[test]
    fn work_done_within_the_delay_shows_nothing() {
        let drawn = Buffer::default();
        drop(Busy::compiling(
            Duration::from_secs(3600),
            drawn.clone(),
            true,
        ));
        assert_eq!(text(&drawn), "");
    }
}
