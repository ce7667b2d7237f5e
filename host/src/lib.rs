//! cordon runs the commands coding agents propose inside a sandbox.
//!
//! The front door is [`session`]: a [`session::Session`] runs commands in
//! one project root under one configuration. [`cli`] is the thin
//! command-line front end over it, and [`serve`] the agents' one (JSON-RPC
//! and MCP sessions). Below it, by concern:
//!
//! - What is asked: [`request`] (a command put to the broker, the
//!   escalations it may ask for, the approval policies), at the bottom:
//!   every layer above speaks it.
//! - Deciding: [`broker`] (rules, approval policies, approvers, grants),
//!   [`settings`] (the settings files and where each value came from),
//!   [`audit`] (the JSON-lines log), [`scenario`] (replayed agent actions).
//! - What a command may touch: [`policy`] (the [`policy::SandboxPolicy`]),
//!   [`secrets`], [`violations`] (what a sandbox refused), [`gitdirs`]
//!   (every git directory the root's repositories use), [`own_dirs`]
//!   (cordon's own files), [`tracked`] (secrets git already holds),
//!   [`shape_lock`] (one lock around making names that complete a git
//!   directory), [`allowlist`] (host names and `--network allow=`).
//! - Finding the program: [`resolve`], the built-in [`tools`],
//!   [`project_tools`] (pinned by digest), [`program_file`] (a program's
//!   bytes, read once), [`download`].
//! - Running it: [`wasi`] (wasmtime, the project root the only preopen),
//!   [`native`] (the OS sandbox), [`shell`] (lines read command by
//!   command), [`net`] (the network gate, proxy and resolver).
//! - Reporting: [`doctor`] (what the machine gives and the settings a
//!   project's runs go by).
//! - Helpers: [`io`] (a command's streams, capped), [`atomic`] (files
//!   written whole), [`config_file`] (small files read safely),
//!   [`digest`], [`display`] (lines safe to show), [`exit`] (reserved exit
//!   codes), [`fd_path`] (the path an open descriptor names), [`observe`]
//!   (what a person should see, for a front end to show), [`screen`]
//!   (the terminal shared by output and questions), [`process`] (whether
//!   another process still runs).

#![warn(missing_docs)]

pub mod allowlist;
pub mod atomic;
pub mod audit;
pub mod broker;
pub mod cli;
pub mod config_file;
pub mod digest;
pub mod display;
pub mod doctor;
pub mod download;
pub mod exit;
pub mod fd_path;
pub mod gitdirs;
pub mod io;
pub mod native;
pub mod net;
pub mod observe;
pub mod own_dirs;
pub mod policy;
pub mod process;
pub mod program_file;
pub mod project_tools;
pub mod request;
pub mod resolve;
pub mod scenario;
pub mod screen;
pub mod secrets;
pub mod serve;
pub mod session;
pub mod settings;
pub mod shape_lock;
pub mod shell;
pub mod tools;
pub mod tracked;
pub mod violations;
pub mod wasi;
