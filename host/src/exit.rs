//! Exit codes reserved by cordon. Any other code is the command's own.

/// The wall-clock deadline passed, or a deterministic run's fuel ran out.
pub const TIMED_OUT: u8 = 124;
/// cordon itself failed: a bad flag, bad configuration, an unreadable or
/// invalid module.
pub const HOST_ERROR: u8 = 125;
/// Refused by policy or by the person asked.
pub const DENIED: u8 = 126;
/// No tool by that name.
pub const NOT_FOUND: u8 = 127;
/// Cancelled from outside (a front end's cancel; as a shell reports an
/// interrupted command: 128 + SIGINT).
pub const CANCELLED: u8 = 130;
/// The guest trapped (as `wasmtime run` reports a trap: 128 + SIGABRT).
pub const TRAPPED: u8 = 134;
/// The tool's output pipe closed under it (as a native process ends by
/// SIGPIPE: 128 + 13).
pub const BROKEN_PIPE: u8 = 141;
