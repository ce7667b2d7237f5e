//! Turning wasm bytes into something runnable: detect a WASIp1 core module
//! or a WASIp2 component, compile it (or load it from the cache), and
//! pre-link it against the host so each run only instantiates.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::Component;
use wasmtime::error::Context;
use wasmtime::{Engine, Module};
use wasmtime::{Result, bail};

use sha2::{Digest, Sha256};

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

/// Compiles `bytes`, using `cache` when given. `sha256` is the digest of
/// `bytes` when the caller knows it already (the built-in tools carry theirs).
///
/// # Errors
///
/// When the bytes are not valid WebAssembly of a supported kind.
pub fn compile(
    engine: &Engine,
    cache: Option<&CompileCache>,
    bytes: &[u8],
    sha256: Option<&[u8; 32]>,
) -> Result<Compiled> {
    let kind = Kind::detect(bytes)?;
    let key = cache.map(|_| {
        let digest = sha256
            .copied()
            .unwrap_or_else(|| Sha256::digest(bytes).into());
        CompileCache::key(engine, &digest)
    });
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

/// Runs `work`, showing a spinner on stderr if it takes longer than
/// [`SPINNER_AFTER`] and stderr is a terminal.
fn with_spinner<T>(work: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return work();
    }
    let done = Arc::new(AtomicBool::new(false));
    let spinner = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            std::thread::park_timeout(SPINNER_AFTER);
            let mut shown = false;
            for frame in ['|', '/', '-', '\\'].iter().cycle() {
                if done.load(Ordering::Acquire) {
                    break;
                }
                eprint!("\rcordon: compiling {frame}");
                shown = true;
                std::thread::park_timeout(Duration::from_millis(100));
            }
            if shown {
                eprint!("\r\x1b[K");
            }
        })
    };
    let result = work();
    done.store(true, Ordering::Release);
    spinner.thread().unpark();
    let _ = spinner.join();
    result
}
