//! `apply_patch` (the patch format coding agents emit) and `patch` (unified
//! diffs, `-pN`). Both parse into the same changes and apply them all or
//! nothing: every hunk is located and every file read before anything is
//! written, and a hunk that does not apply changes nothing and exits 1 with
//! the reason. Files are replaced atomically (written beside, renamed over).
//!
//! Paths must stay inside the project root: an absolute path outside it or
//! a `..` that climbs above the working directory's root is refused up
//! front (the sandbox would refuse the write anyway; this keeps the patch
//! all-or-nothing and says why).

use std::ffi::OsString;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// One hunk: the lines to find and what replaces them.
struct Hunk {
    /// A line that precedes the hunk (`@@ fn main` in agent patches).
    anchor: Option<String>,
    /// 1-based line where a unified diff says the hunk starts.
    line_hint: Option<usize>,
    old: Vec<String>,
    new: Vec<String>,
    /// The hunk must match at the end of the file.
    at_end: bool,
}

enum Change {
    Add {
        path: String,
        lines: Vec<String>,
    },
    Delete {
        path: String,
    },
    Update {
        path: String,
        move_to: Option<String>,
        hunks: Vec<Hunk>,
    },
}

/// A file's contents as lines, and whether the last one ended with `\n`.
struct Text {
    lines: Vec<String>,
    trailing_newline: bool,
}

impl Text {
    fn parse(bytes: &[u8]) -> Result<Text, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
        let trailing_newline = text.ends_with('\n') || text.is_empty();
        let body = text.strip_suffix('\n').unwrap_or(text);
        let lines = if body.is_empty() && text.len() <= 1 {
            Vec::new()
        } else {
            body.split('\n').map(str::to_string).collect()
        };
        Ok(Text {
            lines,
            trailing_newline,
        })
    }

    fn render(&self) -> Vec<u8> {
        let mut out = self.lines.join("\n");
        if self.trailing_newline && !self.lines.is_empty() {
            out.push('\n');
        }
        out.into_bytes()
    }
}

/// What to do to the filesystem, decided before anything is done.
enum Step {
    Write { path: PathBuf, bytes: Vec<u8> },
    Remove { path: PathBuf },
}

fn read_input(file: Option<&OsString>) -> Result<String, String> {
    match file {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            format!(
                "{}: {}",
                path.to_string_lossy(),
                crate::io_error::describe(&e)
            )
        }),
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("reading the patch: {e}"))?;
            Ok(text)
        }
    }
}

pub fn apply_patch_main(args: Vec<OsString>) -> i32 {
    // Agents pass the patch as the one argument, or on stdin.
    let text = match args.get(1) {
        Some(arg) if arg.to_string_lossy().contains("*** Begin Patch") => {
            Ok(arg.to_string_lossy().into_owned())
        }
        other => read_input(other),
    };
    let result = text
        .and_then(|text| parse_agent_patch(&text))
        .and_then(|changes| plan(&changes, 0).map(|steps| (changes, steps)))
        .and_then(|(changes, steps)| apply(&steps).map(|()| changes));
    match result {
        Ok(changes) => {
            println!("Success. Updated the following files:");
            for change in &changes {
                match change {
                    Change::Add { path, .. } => println!("A {path}"),
                    Change::Delete { path } => println!("D {path}"),
                    Change::Update { path, move_to, .. } => {
                        println!("M {}", move_to.as_deref().unwrap_or(path))
                    }
                }
            }
            0
        }
        Err(reason) => {
            eprintln!("apply_patch: {reason}");
            1
        }
    }
}

pub fn patch_main(args: Vec<OsString>) -> i32 {
    let mut strip = 0usize;
    let mut input = None;
    let mut dry_run = false;
    let mut quiet = false;
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let arg = arg.to_string_lossy();
        if let Some(n) = arg
            .strip_prefix("-p")
            .or_else(|| arg.strip_prefix("--strip="))
        {
            let n = if n.is_empty() {
                rest.next().map(|a| a.to_string_lossy().into_owned())
            } else {
                Some(n.to_string())
            };
            match n.and_then(|n| n.parse().ok()) {
                Some(n) => strip = n,
                None => return usage("-p needs a number"),
            }
        } else if arg == "-i" || arg == "--input" {
            match rest.next() {
                Some(file) => input = Some(file.clone()),
                None => return usage("-i needs a file"),
            }
        } else if let Some(file) = arg.strip_prefix("--input=") {
            input = Some(OsString::from(file));
        } else if arg == "--dry-run" {
            dry_run = true;
        } else if arg == "-s" || arg == "--quiet" || arg == "--silent" {
            quiet = true;
        } else if arg == "-N" || arg == "--forward" || arg == "-t" || arg == "--batch" {
            // Never interactive; reversed patches are reported as failures.
        } else {
            return usage(&format!("unsupported argument '{arg}'"));
        }
    }
    let result = read_input(input.as_ref())
        .and_then(|text| parse_unified(&text))
        .and_then(|changes| plan(&changes, strip).map(|steps| (changes, steps)));
    let (changes, steps) = match result {
        Ok(planned) => planned,
        Err(reason) => {
            eprintln!("patch: {reason}");
            return 1;
        }
    };
    if !quiet {
        for change in &changes {
            let path = match change {
                Change::Add { path, .. }
                | Change::Delete { path }
                | Change::Update { path, .. } => path,
            };
            let shown = strip_path(path, strip).unwrap_or_else(|_| path.clone());
            let verb = if dry_run { "checking" } else { "patching" };
            println!("{verb} file {shown}");
        }
    }
    if dry_run {
        return 0;
    }
    match apply(&steps) {
        Ok(()) => 0,
        Err(reason) => {
            eprintln!("patch: {reason}");
            1
        }
    }
}

fn usage(message: &str) -> i32 {
    eprintln!("patch: {message}");
    eprintln!("Usage: patch [-pNUM] [-i PATCHFILE] [--dry-run] < PATCHFILE");
    2
}

fn parse_agent_patch(text: &str) -> Result<Vec<Change>, String> {
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r')).peekable();
    while lines.peek().is_some_and(|l| l.trim().is_empty()) {
        lines.next();
    }
    if lines.next().map(str::trim) != Some("*** Begin Patch") {
        return Err("the patch must start with '*** Begin Patch'".into());
    }
    let mut changes = Vec::new();
    loop {
        let Some(line) = lines.next() else {
            return Err("the patch must end with '*** End Patch'".into());
        };
        if line.trim() == "*** End Patch" {
            break;
        }
        if let Some(path) = line.strip_prefix("*** Add File: ") {
            let mut added = Vec::new();
            while let Some(next) = lines.peek() {
                match next.strip_prefix('+') {
                    Some(content) => added.push(content.to_string()),
                    None if next.starts_with("***") => break,
                    None => return Err(format!("Add File {path}: line without '+': {next}")),
                }
                lines.next();
            }
            changes.push(Change::Add {
                path: path.trim().to_string(),
                lines: added,
            });
        } else if let Some(path) = line.strip_prefix("*** Delete File: ") {
            changes.push(Change::Delete {
                path: path.trim().to_string(),
            });
        } else if let Some(path) = line.strip_prefix("*** Update File: ") {
            let move_to = lines
                .next_if(|l| l.starts_with("*** Move to: "))
                .map(|l| l["*** Move to: ".len()..].trim().to_string());
            let mut hunks: Vec<Hunk> = Vec::new();
            while let Some(next) = lines.peek().copied() {
                if next == "*** End of File" {
                    if let Some(last) = hunks.last_mut() {
                        last.at_end = true;
                    }
                    lines.next();
                    continue;
                }
                if next.starts_with("*** ") {
                    break;
                }
                lines.next();
                if let Some(anchor) = next.strip_prefix("@@") {
                    let anchor = anchor.trim();
                    hunks.push(Hunk {
                        anchor: (!anchor.is_empty()).then(|| anchor.to_string()),
                        line_hint: None,
                        old: Vec::new(),
                        new: Vec::new(),
                        at_end: false,
                    });
                    continue;
                }
                if hunks.is_empty() {
                    // Lines before any `@@` form a first hunk.
                    hunks.push(Hunk {
                        anchor: None,
                        line_hint: None,
                        old: Vec::new(),
                        new: Vec::new(),
                        at_end: false,
                    });
                }
                let hunk = hunks.last_mut().expect("a hunk");
                push_hunk_line(hunk, next).map_err(|e| format!("Update File {path}: {e}"))?;
            }
            if hunks.is_empty() && move_to.is_none() {
                return Err(format!("Update File {path}: no hunks"));
            }
            changes.push(Change::Update {
                path: path.trim().to_string(),
                move_to,
                hunks,
            });
        } else if line.trim().is_empty() {
            continue;
        } else {
            return Err(format!("unexpected line: {line}"));
        }
    }
    Ok(changes)
}

fn push_hunk_line(hunk: &mut Hunk, line: &str) -> Result<(), String> {
    match line.chars().next() {
        Some(' ') => {
            hunk.old.push(line[1..].to_string());
            hunk.new.push(line[1..].to_string());
        }
        Some('-') => hunk.old.push(line[1..].to_string()),
        Some('+') => hunk.new.push(line[1..].to_string()),
        // An empty line in a hunk is an empty context line.
        None => {
            hunk.old.push(String::new());
            hunk.new.push(String::new());
        }
        Some(_) => return Err(format!("bad hunk line: {line}")),
    }
    Ok(())
}

fn parse_unified(text: &str) -> Result<Vec<Change>, String> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut changes = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(old_name) = lines[i].strip_prefix("--- ") else {
            i += 1;
            continue;
        };
        let Some(new_name) = lines.get(i + 1).and_then(|l| l.strip_prefix("+++ ")) else {
            return Err(format!("line {}: '---' without '+++'", i + 1));
        };
        let name = |n: &str| n.split('\t').next().unwrap_or(n).trim().to_string();
        let (old_name, new_name) = (name(old_name), name(new_name));
        i += 2;
        let mut hunks = Vec::new();
        while let Some(header) = lines.get(i).and_then(|l| l.strip_prefix("@@ -")) {
            let (old_range, rest) = header.split_once(" +").ok_or("bad hunk header")?;
            let new_range = rest.split(" @@").next().unwrap_or(rest);
            let count = |range: &str| -> Result<(usize, usize), String> {
                let (start, len) = range.split_once(',').unwrap_or((range, "1"));
                Ok((
                    start
                        .parse()
                        .map_err(|_| format!("bad hunk header: {header}"))?,
                    len.parse()
                        .map_err(|_| format!("bad hunk header: {header}"))?,
                ))
            };
            let (old_start, mut old_left) = count(old_range)?;
            let (_, mut new_left) = count(new_range)?;
            let mut hunk = Hunk {
                anchor: None,
                line_hint: Some(old_start),
                old: Vec::new(),
                new: Vec::new(),
                at_end: false,
            };
            i += 1;
            while old_left > 0 || new_left > 0 {
                let Some(line) = lines.get(i) else {
                    return Err("patch ends inside a hunk".into());
                };
                i += 1;
                if line.starts_with('\\') {
                    continue;
                }
                match line.chars().next() {
                    Some('-') => old_left = old_left.saturating_sub(1),
                    Some('+') => new_left = new_left.saturating_sub(1),
                    _ => {
                        old_left = old_left.saturating_sub(1);
                        new_left = new_left.saturating_sub(1);
                    }
                }
                push_hunk_line(&mut hunk, line)?;
            }
            while lines.get(i).is_some_and(|l| l.starts_with('\\')) {
                i += 1;
            }
            hunks.push(hunk);
        }
        changes.push(if old_name == "/dev/null" {
            let lines = hunks.into_iter().flat_map(|h| h.new).collect();
            Change::Add {
                path: new_name,
                lines,
            }
        } else if new_name == "/dev/null" {
            Change::Delete { path: old_name }
        } else {
            Change::Update {
                path: new_name,
                move_to: None,
                hunks,
            }
        });
    }
    if changes.is_empty() {
        return Err("only garbage was found in the patch input".into());
    }
    Ok(changes)
}

/// Removes `strip` leading components and refuses paths that leave the
/// root: absolute ones outside `$HOME` (the root as the tool sees it) and
/// ones whose `..` climb above where they start.
fn strip_path(path: &str, strip: usize) -> Result<String, String> {
    let stripped: PathBuf = Path::new(path).components().skip(strip).collect();
    if stripped.as_os_str().is_empty() {
        return Err(format!(
            "{path}: nothing left after stripping {strip} components"
        ));
    }
    Ok(stripped.to_string_lossy().into_owned())
}

fn checked_path(path: &str, strip: usize) -> Result<PathBuf, String> {
    let path = PathBuf::from(strip_path(path, strip)?);
    let leaves = || Err(format!("{}: path leaves the project root", path.display()));
    let relative = if path.is_absolute() {
        let root = std::env::var_os("HOME").map(PathBuf::from);
        match root
            .as_deref()
            .and_then(|root| path.strip_prefix(root).ok())
        {
            Some(inside) => inside.to_path_buf(),
            None => return leaves(),
        }
    } else {
        path.clone()
    };
    let mut depth = 0usize;
    for component in relative.components() {
        match component {
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None if path.is_absolute() => return leaves(),
                // Relative to the working directory: the sandbox decides
                // whether the parent is still inside the root.
                None => {}
            },
            Component::Normal(_) => depth += 1,
            _ => {}
        }
    }
    Ok(path)
}

fn read_text(path: &Path) -> Result<Text, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("{}: {}", path.display(), crate::io_error::describe(&e)))?;
    Text::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn plan(changes: &[Change], strip: usize) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for change in changes {
        match change {
            Change::Add { path, lines } => {
                let path = checked_path(path, strip)?;
                let text = Text {
                    lines: lines.clone(),
                    trailing_newline: true,
                };
                steps.push(Step::Write {
                    path,
                    bytes: text.render(),
                });
            }
            Change::Delete { path } => {
                let path = checked_path(path, strip)?;
                read_text(&path)?;
                steps.push(Step::Remove { path });
            }
            Change::Update {
                path,
                move_to,
                hunks,
            } => {
                let source = checked_path(path, strip)?;
                let mut text = read_text(&source)?;
                let mut cursor = 0;
                for (n, hunk) in hunks.iter().enumerate() {
                    cursor = apply_hunk(&mut text, hunk, cursor).map_err(|why| {
                        format!("{}: hunk {} does not apply: {why}", source.display(), n + 1)
                    })?;
                }
                let target = match move_to {
                    Some(to) => checked_path(to, strip)?,
                    None => source.clone(),
                };
                if target != source {
                    steps.push(Step::Remove { path: source });
                }
                steps.push(Step::Write {
                    path: target,
                    bytes: text.render(),
                });
            }
        }
    }
    Ok(steps)
}

/// Finds `hunk.old` at or after `cursor` (near its line hint if it has one),
/// replaces it with `hunk.new`, and returns where the next hunk may start.
fn apply_hunk(text: &mut Text, hunk: &Hunk, cursor: usize) -> Result<usize, String> {
    let mut from = cursor;
    if let Some(anchor) = &hunk.anchor {
        let found = (from..text.lines.len()).find(|&i| text.lines[i].trim() == anchor.trim());
        match found {
            Some(i) => from = i + 1,
            None => return Err(format!("context '{anchor}' not found")),
        }
    }
    if hunk.old.is_empty() {
        // Pure addition: at the end of the file, or where the hint says.
        let at = hunk
            .line_hint
            .map_or(text.lines.len(), |l| l.min(text.lines.len()));
        let at = if hunk.anchor.is_some() { from } else { at };
        text.lines.splice(at..at, hunk.new.iter().cloned());
        return Ok(at + hunk.new.len());
    }
    let fits = |start: usize, loose: bool| {
        start + hunk.old.len() <= text.lines.len()
            && (!hunk.at_end || start + hunk.old.len() == text.lines.len())
            && hunk
                .old
                .iter()
                .zip(&text.lines[start..])
                .all(|(want, have)| {
                    if loose {
                        want.trim_end() == have.trim_end()
                    } else {
                        want == have
                    }
                })
    };
    let last = text.lines.len().saturating_sub(hunk.old.len());
    let mut candidates: Vec<usize> = (from..=last).collect();
    if let Some(hint) = hunk.line_hint {
        // Try the stated line first, then nearby ones.
        let hint = hint.saturating_sub(1);
        candidates.sort_by_key(|&i| i.abs_diff(hint));
    }
    let start = candidates
        .iter()
        .copied()
        .find(|&i| fits(i, false))
        .or_else(|| candidates.iter().copied().find(|&i| fits(i, true)))
        .ok_or_else(|| {
            let first = hunk.old.first().map_or("", String::as_str);
            format!("expected lines not found (first: '{first}')")
        })?;
    text.lines
        .splice(start..start + hunk.old.len(), hunk.new.iter().cloned());
    Ok(start + hunk.new.len())
}

/// Applies `steps` so that a failure anywhere leaves the tree as it was.
/// What can be checked is checked before anything changes (see [`check`]).
/// Then every new content is written beside its target; then every file
/// replaced or removed is renamed aside; then the new files are renamed
/// into names now free. A failure at any of these is undone, last first
/// (contents and names restored; a file renamed aside and back has a new
/// change time). Only at the end are the set-aside files removed.
fn apply(steps: &[Step]) -> Result<(), String> {
    let described = |(path, err): (PathBuf, std::io::Error)| {
        format!("{}: {}", path.display(), crate::io_error::describe(&err))
    };
    steps.iter().try_for_each(check).map_err(described)?;
    // Temporary names never take a name that exists or that a step writes.
    let mut taken: std::collections::HashSet<PathBuf> = steps
        .iter()
        .map(|step| match step {
            Step::Write { path, .. } | Step::Remove { path } => path.clone(),
        })
        .collect();
    let mut staged: Vec<Staged> = Vec::new();
    let writes = steps.iter().filter_map(|step| match step {
        Step::Write { path, bytes } => Some((path, bytes)),
        Step::Remove { .. } => None,
    });
    let replaced = steps.iter().filter_map(|step| match step {
        Step::Write { path, .. } => std::fs::symlink_metadata(path).is_ok().then_some(path),
        Step::Remove { path } => Some(path),
    });
    let staging: Result<(), _> = writes
        .map(|(path, bytes)| write_beside(path, bytes, &mut taken, &mut staged))
        .collect::<Result<(), _>>()
        .and_then(|()| {
            replaced
                .map(|path| set_aside(path, &mut taken, &mut staged))
                .collect()
        });
    if let Err(failed) = staging {
        undo(staged);
        return Err(described(failed));
    }
    let mut placed: Vec<(&Path, &Path)> = Vec::new();
    for entry in &staged {
        if let Staged::Written { temp, path } = entry {
            if let Err(err) = std::fs::rename(temp, path) {
                for (temp, path) in placed.into_iter().rev() {
                    let _ = std::fs::rename(path, temp);
                }
                let failed = (path.clone(), err);
                undo(staged);
                return Err(described(failed));
            }
            placed.push((temp, path));
        }
    }
    for entry in staged {
        if let Staged::SetAside { temp, path } = entry {
            std::fs::remove_file(&temp).map_err(|e| described((path, e)))?;
        }
    }
    Ok(())
}

/// Refuses, before anything changes, a step that cannot succeed: a
/// target or a file to remove that is a directory or not a regular file, a
/// file that may not be written (a secret, a protected path), or a new
/// file under a path that is a file.
fn check(step: &Step) -> Result<(), (PathBuf, std::io::Error)> {
    let path = match step {
        Step::Write { path, .. } | Step::Remove { path } => path,
    };
    let failed = |what: &str| Err((path.clone(), std::io::Error::other(what.to_string())));
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => failed("is a directory"),
        Ok(meta) if !meta.is_file() => failed("not a regular file"),
        // Opened for writing, not truncated: refused where it may not be
        // changed, and nothing changes here.
        Ok(_) => std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map(drop)
            .map_err(|e| (path.clone(), e)),
        Err(_) if matches!(step, Step::Remove { .. }) => failed("no such file"),
        Err(_) => {
            let existing = path
                .ancestors()
                .skip(1)
                .find(|dir| !dir.as_os_str().is_empty() && std::fs::symlink_metadata(dir).is_ok());
            match existing {
                Some(dir) if !dir.is_dir() => {
                    Err((dir.to_path_buf(), std::io::Error::other("not a directory")))
                }
                _ => Ok(()),
            }
        }
    }
}

/// Undoes what was staged, last first.
fn undo(staged: Vec<Staged>) {
    for entry in staged.into_iter().rev() {
        let _ = match entry {
            Staged::Written { temp, .. } => std::fs::remove_file(temp),
            Staged::SetAside { temp, path } => std::fs::rename(temp, path),
            Staged::CreatedDir(dir) => std::fs::remove_dir(dir),
        };
    }
}

enum Staged {
    /// New content written to `temp`, to be renamed over `path`.
    Written { temp: PathBuf, path: PathBuf },
    /// `path` renamed to `temp`, to be removed.
    SetAside { temp: PathBuf, path: PathBuf },
    /// A directory created for a new file.
    CreatedDir(PathBuf),
}

/// A name beside `path` for `purpose` that does not exist and is not
/// `taken` (then it is).
fn temp_beside(
    path: &Path,
    purpose: &str,
    taken: &mut std::collections::HashSet<PathBuf>,
) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = (0..)
        .map(|n| path.with_file_name(format!(".{name}.cordon-{purpose}-{n}")))
        .find(|temp| !taken.contains(temp) && std::fs::symlink_metadata(temp).is_err())
        .expect("an unused name");
    taken.insert(temp.clone());
    temp
}

/// Writes `bytes` beside `path`, making the directories it needs.
fn write_beside(
    path: &Path,
    bytes: &[u8],
    taken: &mut std::collections::HashSet<PathBuf>,
    staged: &mut Vec<Staged>,
) -> Result<(), (PathBuf, std::io::Error)> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let missing: Vec<&Path> = parent
            .ancestors()
            .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
            .collect();
        for dir in missing.into_iter().rev() {
            std::fs::create_dir(dir).map_err(|e| (dir.to_path_buf(), e))?;
            staged.push(Staged::CreatedDir(dir.to_path_buf()));
        }
    }
    let temp = temp_beside(path, "new", taken);
    // Made new: never over a file that appeared since.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .map_err(|e| (path.to_path_buf(), e))?;
    staged.push(Staged::Written {
        temp,
        path: path.to_path_buf(),
    });
    std::io::Write::write_all(&mut file, bytes).map_err(|e| (path.to_path_buf(), e))
}

/// Renames the file at `path` aside, to be removed at the end (or put
/// back).
fn set_aside(
    path: &Path,
    taken: &mut std::collections::HashSet<PathBuf>,
    staged: &mut Vec<Staged>,
) -> Result<(), (PathBuf, std::io::Error)> {
    let temp = temp_beside(path, "old", taken);
    std::fs::rename(path, &temp).map_err(|e| (path.to_path_buf(), e))?;
    staged.push(Staged::SetAside {
        temp,
        path: path.to_path_buf(),
    });
    Ok(())
}
