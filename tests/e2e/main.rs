//! End-to-end tests: each runs the built `cordon` binary as a user would.

mod support;

mod approvals;
mod archive;
mod cache;
mod cli;
#[cfg(unix)]
mod conformance;
mod deterministic;
mod escape;
mod exit_codes;
#[cfg(target_os = "linux")]
mod gitdirs;
mod isolation;
mod limits;
#[cfg(target_os = "linux")]
mod mcp;
mod metadata;
#[cfg(target_os = "linux")]
mod native;
#[cfg(target_os = "linux")]
mod native_leaks;
mod network;
mod own_files;
mod project_tools;
#[cfg(target_os = "linux")]
mod prompt;
mod protected;
#[cfg(target_os = "linux")]
mod race;
mod rules;
mod scenarios;
#[cfg(any(target_os = "linux", target_os = "macos"))]
mod secrets;
mod serve;
mod session;
#[cfg(unix)]
mod settings;
#[cfg(target_os = "linux")]
mod shell;
mod tools;
