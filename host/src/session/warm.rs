//! The warm side of sessions: one wasmtime engine per engine mode, built
//! at the first WASI tool, and every tool compiled and linked so far. A
//! session keeps its own; sessions given the same [`Engines`] share them
//! (`cordon test` gives each step a session of its own, and one set of
//! engines to all).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use anyhow::Result;

use crate::observe::Observer;
use crate::resolve::{self, ToolSource};
use crate::wasi::{CompileCache, EngineMode, Program, WasiHost};

/// Warm engines and the tools they compiled.
#[derive(Default)]
pub struct Engines {
    /// Standard, then deterministic.
    hosts: [OnceLock<WasiHost>; 2],
    programs: Mutex<HashMap<ProgramKey, Program>>,
}

/// A compiled tool's engine mode, digest and kind (a built-in tool or a
/// file).
type ProgramKey = (usize, [u8; 32], bool);

fn index(mode: EngineMode) -> usize {
    match mode {
        EngineMode::Standard => 0,
        EngineMode::Deterministic => 1,
    }
}

impl Engines {
    /// The engine of `mode`, built on first use with `cache` (the first
    /// session's compile cache, for every session sharing it).
    pub(super) fn host(&self, mode: EngineMode, cache: Option<CompileCache>) -> Result<&WasiHost> {
        let slot = &self.hosts[index(mode)];
        if let Some(host) = slot.get() {
            return Ok(host);
        }
        let host = WasiHost::new(cache, mode)?;
        Ok(slot.get_or_init(|| host))
    }

    /// The tool `resolved` names, compiled and linked once: from the bytes
    /// resolution read (and the broker judged), whose digest is the key.
    pub(super) fn program(
        &self,
        mode: EngineMode,
        cache: Option<CompileCache>,
        resolved: &resolve::Resolved,
        notes: &dyn Observer,
    ) -> Result<Program> {
        let (digest, built_in) = match (&resolved.source, &resolved.file) {
            (ToolSource::BuiltIn(tool), _) => (*tool.module.sha256, true),
            (_, Some(file)) => (file.sha256, false),
            (_, None) => anyhow::bail!("resolved without its bytes"),
        };
        let key = (index(mode), digest, built_in);
        let programs = || self.programs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(program) = programs().get(&key) {
            return Ok(program.clone());
        }
        let host = self.host(mode, cache)?;
        let program = match (&resolved.source, &resolved.file) {
            (ToolSource::BuiltIn(tool), _) => host.load_built_in(tool.module, notes)?,
            (_, Some(file)) => host.load_file(file, notes)?,
            (_, None) => unreachable!("refused above"),
        };
        programs().insert(key, program.clone());
        Ok(program)
    }
}
