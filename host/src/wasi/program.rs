//! Turning wasm bytes into something runnable: detect a WASIp1 core module
//! or a WASIp2 component, compile it (or load it from the cache), and
//! pre-link it against the host so each run only instantiates.

use wasmtime::component::Component;
use wasmtime::error::Context;
use wasmtime::{Engine, Module};
use wasmtime::{Result, bail};

use super::cache::CompileCache;
use crate::observe::Observer;

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

/// Compiles `bytes`, whose digest is `sha256`, using `cache` when given;
/// `notes` hears that a compile runs (it may take seconds).
///
/// # Errors
///
/// When the bytes are not valid WebAssembly of a supported kind.
pub fn compile(
    engine: &Engine,
    cache: Option<&CompileCache>,
    bytes: &[u8],
    sha256: &[u8; 32],
    notes: &dyn Observer,
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
    let busy = notes.compiling();
    let compiled = match kind {
        Kind::CoreModule => Module::new(engine, bytes).map(Compiled::CoreModule),
        Kind::Component => Component::new(engine, bytes).map(Compiled::Component),
    };
    drop(busy);
    let compiled = compiled.context("invalid WebAssembly")?;
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
