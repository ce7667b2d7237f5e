//! cordon runs the commands coding agents propose inside a sandbox.
//!
//! Tool commands compiled to WASI run in wasmtime with the project root as
//! their only preopen ([`wasi`]); what a command may touch is a
//! [`policy::SandboxPolicy`]; [`resolve`] finds the program for a command
//! name, among them the built-in [`tools`]; any other command runs under
//! the OS sandbox ([`native`]); [`cli`] is the thin command-line front end.

pub mod atomic;
pub mod audit;
pub mod broker;
pub mod cli;
pub mod config_file;
pub mod digest;
pub mod display;
pub mod download;
pub mod exit;
pub mod fd_path;
pub mod gitdirs;
pub mod native;
pub mod net;
pub mod own_dirs;
pub mod policy;
pub mod project_tools;
pub mod resolve;
pub mod scenario;
pub mod screen;
pub mod secrets;
pub mod session;
pub mod settings;
pub mod shape_lock;
pub mod shell;
pub mod tools;
pub mod tracked;
pub mod wasi;
