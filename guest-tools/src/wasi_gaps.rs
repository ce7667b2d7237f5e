//! Where a uutils tool relies on something WASI lacks, the smallest
//! faithful replacement:
//! - `pwd` and `realpath`: uutils canonicalizes paths with the OS's
//!   `realpath`, which WASI does not have; here symlinks are resolved one
//!   component at a time (within the sandbox, like every path);
//! - `rm` refuses `.` and `..` operands by name, as GNU does, before uutils
//!   looks them up (it checks only after resolving them).

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use crate::io_error::describe;

/// Linux's MAXSYMLINKS.
const MAX_LINKS: usize = 40;

pub fn pwd_main(args: Vec<OsString>) -> i32 {
    for arg in args.iter().skip(1) {
        if !matches!(arg.to_str(), Some("-L" | "-P" | "--logical" | "--physical")) {
            eprintln!("pwd: invalid option {}", arg.to_string_lossy());
            return 1;
        }
    }
    // cordon starts the tool in its working directory, already resolved.
    match std::env::current_dir() {
        Ok(dir) => {
            let mut out = io::stdout().lock();
            match writeln!(out, "{}", dir.display()) {
                Ok(()) => 0,
                Err(_) => 1,
            }
        }
        Err(err) => {
            eprintln!("pwd: failed to get current directory: {}", describe(&err));
            1
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Existence {
    /// -e: every component must exist.
    All,
    /// Default: all but the last must exist.
    AllButLast,
    /// -m: none need exist.
    None,
}

pub fn realpath_main(args: Vec<OsString>) -> i32 {
    let mut existence = Existence::AllButLast;
    let (mut quiet, mut zero, mut physical) = (false, false, true);
    let mut operands = Vec::new();
    let mut only_operands = false;
    for arg in args.into_iter().skip(1) {
        match arg.to_str() {
            _ if only_operands => operands.push(arg),
            Some("--") => only_operands = true,
            Some("-e" | "--canonicalize-existing") => existence = Existence::All,
            Some("-m" | "--canonicalize-missing") => existence = Existence::None,
            Some("-q" | "--quiet") => quiet = true,
            Some("-z" | "--zero") => zero = true,
            Some("-s" | "--strip" | "--no-symlinks") => physical = false,
            Some("-P" | "--physical") => physical = true,
            Some(flag) if flag.starts_with('-') && flag.len() > 1 => {
                eprintln!("realpath: unrecognized option '{flag}'");
                return 1;
            }
            _ => operands.push(arg),
        }
    }
    if operands.is_empty() {
        eprintln!("realpath: missing operand");
        return 1;
    }
    let mut out = io::stdout().lock();
    let mut code = 0;
    for operand in operands {
        match resolve(Path::new(&operand), existence, physical) {
            Ok(path) => {
                let end = if zero { "\0" } else { "\n" };
                if write!(out, "{}{end}", path.display()).is_err() {
                    return 1;
                }
            }
            Err(err) => {
                code = 1;
                if !quiet {
                    let _ = out.flush();
                    eprintln!(
                        "realpath: {}: {}",
                        operand.to_string_lossy(),
                        describe(&err)
                    );
                }
            }
        }
    }
    code
}

fn resolve(path: &Path, existence: Existence, physical: bool) -> io::Result<PathBuf> {
    let start = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        std::env::current_dir()?
    };
    let mut pending: Vec<OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut resolved = start;
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        let last = pending.is_empty();
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if physical && meta.is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::other("Too many levels of symbolic links"));
                }
                let target = std::fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved = PathBuf::from("/");
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(n) => pending.push(n.to_os_string()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            Ok(meta) => {
                // Left as written (-s), a symlink on the way must still
                // lead to a directory.
                let is_dir = meta.is_dir()
                    || (meta.is_symlink()
                        && std::fs::metadata(&candidate).is_ok_and(|m| m.is_dir()));
                if !last && !is_dir && existence != Existence::None {
                    return Err(io::Error::other("Not a directory"));
                }
                resolved = candidate;
            }
            // An ancestor of the sandbox root cannot be examined, but the
            // path through it can: it is already resolved, pass through it.
            Err(_) if !last && std::fs::metadata(candidate.join(rest_of(&pending))).is_ok() => {
                resolved = candidate;
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let allowed = match existence {
                    Existence::None => true,
                    Existence::AllButLast => last,
                    Existence::All => false,
                };
                if !allowed {
                    return Err(err);
                }
                resolved = candidate;
            }
            Err(err) => return Err(err),
        }
    }
    Ok(resolved)
}

/// The components still to resolve, as a path (they are stacked reversed).
fn rest_of(pending: &[OsString]) -> PathBuf {
    pending.iter().rev().collect()
}

pub fn rm_main(args: Vec<OsString>) -> i32 {
    let mut kept = Vec::with_capacity(args.len());
    let mut refused = false;
    let mut only_operands = false;
    for (i, arg) in args.into_iter().enumerate() {
        let is_option =
            !only_operands && i > 0 && arg.len() > 1 && arg.to_string_lossy().starts_with('-');
        if !only_operands && arg == "--" {
            only_operands = true;
        }
        let last = Path::new(&arg).components().next_back();
        let dots =
            i > 0 && !is_option && matches!(last, Some(Component::CurDir | Component::ParentDir));
        if dots {
            eprintln!(
                "rm: refusing to remove '.' or '..' directory: skipping '{}'",
                arg.to_string_lossy()
            );
            refused = true;
        } else {
            kept.push(arg);
        }
    }
    let has_operands = kept
        .iter()
        .skip(1)
        .any(|a| !a.to_string_lossy().starts_with('-') || a == "-");
    let code = if refused && !has_operands {
        0
    } else {
        uu_rm::uumain(kept.into_iter())
    };
    if refused { code.max(1) } else { code }
}
