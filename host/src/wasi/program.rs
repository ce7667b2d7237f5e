//! Turning wasm bytes into something runnable: detect a WASIp1 core module
//! or a WASIp2 component, compile it (or load it from the cache), and
//! pre-link it against the host so each run only instantiates.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::Component;
use wasmtime::error::Context;
use wasmtime::{Engine, Module};
use wasmtime::{Result, bail};

use super::cache::CompileCache;

/// Which kind of WASI program the bytes hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A core module importing `wasi_snapshot_preview1`.
    CoreModule,
    /// A component exporting `wasi:cli/run`.
    Component,
}

impl Kind {
    /// Reads the kind from the preamble of `bytes`.
    ///
    /// # Errors
    ///
    /// When the bytes are not WebAssembly at all.
    pub fn detect(bytes: &[u8]) -> Result<Self> {
        if wasmparser::Parser::is_component(bytes) {
            Ok(Kind::Component)
        } else if wasmparser::Parser::is_core_wasm(bytes) {
            Ok(Kind::CoreModule)
        } else {
            bail!("not a WebAssembly module or component (bad magic or version)")
        }
    }
}

/// Compiled code of either kind.
pub enum Compiled {
    CoreModule(Module),
    Component(Component),
}

/// A compile slower than this shows a spinner on a terminal.
const SPINNER_AFTER: Duration = Duration::from_secs(1);

/// Compiles `bytes`, whose digest is `sha256`, using `cache` when given.
///
/// # Errors
///
/// When the bytes are not valid WebAssembly of a supported kind.
pub fn compile(
    engine: &Engine,
    cache: Option<&CompileCache>,
    bytes: &[u8],
    sha256: &[u8; 32],
) -> Result<Compiled> {
    let kind = Kind::detect(bytes)?;
    let key = cache.map(|_| CompileCache::key(engine, sha256));
    if let (Some(cache), Some(key)) = (cache, &key)
        && let Some(artifact) = cache.lookup(key)
    {
        // SAFETY: the artifact is authenticated as the very file this host
        // wrote (a MAC under the user's cache key over its identity), under
        // a key that includes the engine's compatibility hash; wasmtime
        // also checks its own header (version, target, flags) before using
        // it. Entries are replaced only by renaming a new file over them,
        // and no command may write the cache directory, so the mapped file
        // does not change underneath.
        let loaded = unsafe {
            match kind {
                Kind::CoreModule => {
                    Module::deserialize_file(engine, &artifact).map(Compiled::CoreModule)
                }
                Kind::Component => {
                    Component::deserialize_file(engine, &artifact).map(Compiled::Component)
                }
            }
        };
        if let Ok(loaded) = loaded {
            return Ok(loaded);
        }
        // A foreign or stale entry: compile again and overwrite it.
    }
    let compiled = with_spinner(|| match kind {
        Kind::CoreModule => Module::new(engine, bytes).map(Compiled::CoreModule),
        Kind::Component => Component::new(engine, bytes).map(Compiled::Component),
    })
    .context("invalid WebAssembly")?;
    if let (Some(cache), Some(key)) = (cache, &key) {
        let serialized = match &compiled {
            Compiled::CoreModule(m) => m.serialize(),
            Compiled::Component(c) => c.serialize(),
        };
        // The cache only saves time; a failure to write it is not an error.
        if let Ok(serialized) = serialized {
            let _ = cache.store(key, &serialized);
        }
    }
    Ok(compiled)
}

/// What cordon says, without a terminal (an agent calling cordon), when a
/// compile takes a while: once per process. The first command would
/// otherwise stall for seconds with nothing said.
pub const COMPILING: &str = "cordon: compiling WebAssembly for this machine, once (it is cached \
                             for later runs; `cordon warm` compiles the built-in tools ahead)";

/// Runs `work`; if it takes longer than [`SPINNER_AFTER`], a spinner on
/// stderr when it is a terminal, else the line [`COMPILING`].
fn with_spinner<T>(work: impl FnOnce() -> T) -> T {
    let terminal = std::io::stderr().is_terminal();
    spinning(SPINNER_AFTER, std::io::stderr(), terminal, work)
}

/// Runs `work`, saying from `after` on, until it ends, that it compiles:
/// with a spinner erased at the end (`animate`), or as [`COMPILING`].
fn spinning<T>(
    after: Duration,
    mut out: impl Write + Send + 'static,
    animate: bool,
    work: impl FnOnce() -> T,
) -> T {
    let done = Arc::new(AtomicBool::new(false));
    let spinner = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
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
        })
    };
    let result = work();
    done.store(true, Ordering::Release);
    spinner.thread().unpark();
    let _ = spinner.join();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// What the spinner drew, readable while it draws.
    #[derive(Clone, Default)]
    struct Drawn(Arc<Mutex<Vec<u8>>>);

    impl Write for Drawn {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Drawn {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// Work that outlasts the delay, however fast the machine: it ends
    /// only once the spinner has drawn.
    #[test]
    fn slow_work_shows_a_spinner_then_erases_it() {
        let drawn = Drawn::default();
        let seen = drawn.clone();
        spinning(Duration::ZERO, drawn.clone(), true, || {
            while !seen.text().contains("compiling") {
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let text = drawn.text();
        assert!(
            text.starts_with("\rcordon: compiling WebAssembly, once (then cached) |"),
            "{text:?}"
        );
        assert!(text.ends_with("\r\x1b[K"), "{text:?}");
    }

    /// Without a terminal: one line, once, and nothing to erase.
    #[test]
    fn slow_work_without_a_terminal_says_one_line() {
        let drawn = Drawn::default();
        let seen = drawn.clone();
        spinning(Duration::ZERO, drawn.clone(), false, || {
            while !seen.text().contains("compiling") {
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        assert_eq!(drawn.text(), format!("{COMPILING}\n"));
    }

    #[test]
    fn work_done_within_the_delay_shows_nothing() {
        let drawn = Drawn::default();
        assert_eq!(
            spinning(Duration::from_secs(3600), drawn.clone(), true, || 7),
            7
        );
        assert_eq!(drawn.text(), "");
    }
}
