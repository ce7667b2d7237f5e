//! The built-in WASI tools: one multi-call module (guest-tools/), compiled
//! for wasm32-wasip1 by the build script and embedded in the binary.

/// One built-in tool and where it comes from.
#[derive(Debug, PartialEq, Eq)]
pub struct BuiltIn {
    pub name: &'static str,
    /// The crate that implements it (`cordon-guest-tools` for our own).
    pub krate: &'static str,
    pub version: &'static str,
}

/// Every built-in tool, in name order.
pub const BUILT_IN: &[BuiltIn] = include!(concat!(env!("OUT_DIR"), "/builtin_tools.rs"));

/// The multi-call module; `argv[0]` picks the tool.
pub static MODULE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cordon-tools.wasm"));

/// sha256 of [`MODULE`], computed by the build script.
pub static MODULE_SHA256: &[u8; 32] =
    include_bytes!(concat!(env!("OUT_DIR"), "/cordon-tools.sha256"));

/// The built-in tool called `name`, if any.
pub fn find(name: &str) -> Option<&'static BuiltIn> {
    BUILT_IN.iter().find(|tool| tool.name == name)
}
