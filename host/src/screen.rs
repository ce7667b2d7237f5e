//! The person's terminal is shared by a command's output (copied there by
//! cordon) and cordon's questions. While a question is on the screen the
//! command's output to the terminal waits, so nothing the command writes
//! can draw over the question or look like one; a command that goes on
//! writing blocks once its pipe (native) or its write (WASI) is full.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static FLOOR: RwLock<()> = RwLock::new(());

/// Held while a command's output is written to the terminal.
pub fn command_writes() -> RwLockReadGuard<'static, ()> {
    FLOOR.read().unwrap_or_else(|e| e.into_inner())
}

/// Held while cordon asks a person: waits for a write in progress to
/// end, then holds back every other until dropped.
pub fn question() -> RwLockWriteGuard<'static, ()> {
    FLOOR.write().unwrap_or_else(|e| e.into_inner())
}
