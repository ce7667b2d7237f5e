//! `tree`: the directory listing of tree 2.x, with `-a -d -f -F -L N
//! -I PATTERN -P PATTERN --dirsfirst --noreport`. Entries are in byte
//! order of their names (tree's order in the C locale); a symlink shows
//! its target and is not followed. Patterns are globs, `|` separating
//! alternatives, matched against names.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};

#[derive(Default)]
struct Options {
    all: bool,
    dirs_only: bool,
    full_path: bool,
    classify: bool,
    dirs_first: bool,
    no_report: bool,
    max_level: Option<usize>,
    exclude: Option<GlobSet>,
    include: Option<GlobSet>,
    dirs: Vec<OsString>,
}

#[derive(Default)]
struct Counts {
    dirs: u64,
    files: u64,
}

pub fn main(args: Vec<OsString>) -> i32 {
    let opts = match parse(args) {
        Ok(opts) => opts,
        Err(message) => {
            eprintln!("tree: {message}");
            return 1;
        }
    };
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut counts = Counts::default();
    let mut code = 0;
    let dirs = if opts.dirs.is_empty() {
        vec![OsString::from(".")]
    } else {
        opts.dirs.clone()
    };
    for dir in &dirs {
        let path = Path::new(dir);
        let result = if path.is_dir() {
            writeln!(out, "{}", path.display())
                .and_then(|()| list(&opts, &mut out, path, "", 1, &mut counts))
        } else {
            code = 2;
            writeln!(out, "{}  [error opening dir]", path.display())
        };
        if result.is_err() {
            return 1;
        }
    }
    if !opts.no_report {
        let dirs = plural(counts.dirs, "directory", "directories");
        let report = if opts.dirs_only {
            format!("\n{dirs}\n")
        } else {
            format!("\n{dirs}, {}\n", plural(counts.files, "file", "files"))
        };
        if out.write_all(report.as_bytes()).is_err() {
            return 1;
        }
    }
    if out.flush().is_err() {
        return 1;
    }
    code
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn parse(args: Vec<OsString>) -> Result<Options, String> {
    let mut opts = Options::default();
    let mut args = args.into_iter().skip(1);
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        let mut value = |name: &str| -> Result<String, String> {
            args.next()
                .map(|v| v.to_string_lossy().into_owned())
                .ok_or_else(|| format!("Missing argument to {name} option."))
        };
        match text.as_str() {
            "-a" => opts.all = true,
            "-d" => opts.dirs_only = true,
            "-f" => opts.full_path = true,
            "-F" => opts.classify = true,
            "--dirsfirst" => opts.dirs_first = true,
            "--noreport" => opts.no_report = true,
            "-L" => {
                let level = value("-L")?;
                match level.parse::<usize>() {
                    Ok(level) if level > 0 => opts.max_level = Some(level),
                    _ => return Err("Invalid level, must be greater than 0.".into()),
                }
            }
            "-I" => opts.exclude = Some(patterns(&value("-I")?)?),
            "-P" => opts.include = Some(patterns(&value("-P")?)?),
            "--" => opts.dirs.extend(args.by_ref()),
            _ if text.starts_with('-') && text != "-" => {
                return Err(format!("Invalid argument `{text}'."));
            }
            _ => opts.dirs.push(arg),
        }
    }
    Ok(opts)
}

fn patterns(text: &str) -> Result<GlobSet, String> {
    let mut set = GlobSetBuilder::new();
    for pattern in text.split('|') {
        set.add(Glob::new(pattern).map_err(|e| e.to_string())?);
    }
    set.build().map_err(|e| e.to_string())
}

/// One entry of a directory, with what it is.
struct Entry {
    name: OsString,
    is_dir: bool,
    /// A symlink's target.
    target: Option<String>,
    executable: bool,
}

/// Prints the entries under `dir` (its own line is printed), each line
/// after `prefix` and a branch.
fn list(
    opts: &Options,
    out: &mut impl Write,
    dir: &Path,
    prefix: &str,
    level: usize,
    counts: &mut Counts,
) -> io::Result<()> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut entries: Vec<Entry> = read
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let meta = std::fs::symlink_metadata(entry.path()).ok()?;
            let target = meta
                .is_symlink()
                .then(|| std::fs::read_link(entry.path()).ok())
                .flatten()
                .map(|t| t.to_string_lossy().into_owned());
            // A symlink to a directory counts as one, as tree counts it.
            let is_dir = meta.is_dir() || (target.is_some() && entry.path().is_dir());
            let executable = cordon_host_calls::file_info_of(&entry.path(), false)
                .is_some_and(|info| info.mode & 0o111 != 0);
            Some(Entry {
                name,
                is_dir,
                target,
                executable,
            })
        })
        .filter(|entry| opts.all || !entry.name.as_encoded_bytes().starts_with(b"."))
        .filter(|entry| !opts.dirs_only || entry.is_dir)
        .filter(|entry| {
            let name = Path::new(&entry.name);
            let excluded = opts.exclude.as_ref().is_some_and(|set| set.is_match(name));
            let included =
                entry.is_dir || opts.include.as_ref().is_none_or(|set| set.is_match(name));
            !excluded && included
        })
        .collect();
    entries.sort_by(|a, b| {
        let order = a.name.as_encoded_bytes().cmp(b.name.as_encoded_bytes());
        if opts.dirs_first {
            b.is_dir.cmp(&a.is_dir).then(order)
        } else {
            order
        }
    });
    let last = entries.len().saturating_sub(1);
    for (i, entry) in entries.iter().enumerate() {
        let (branch, indent) = if i == last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let path = dir.join(&entry.name);
        let shown = if opts.full_path {
            path.display().to_string()
        } else {
            entry.name.to_string_lossy().into_owned()
        };
        let mark = match (&entry.target, entry.is_dir, opts.classify) {
            (_, _, false) => "",
            (Some(_), _, true) => "",
            (None, true, true) => "/",
            (None, false, true) if entry.executable => "*",
            (None, false, true) => "",
        };
        match &entry.target {
            Some(target) => {
                let suffix = if opts.classify && entry.is_dir {
                    "/"
                } else {
                    ""
                };
                writeln!(out, "{prefix}{branch}{shown} -> {target}{suffix}")?
            }
            None => writeln!(out, "{prefix}{branch}{shown}{mark}")?,
        }
        if entry.is_dir {
            counts.dirs += 1;
            if entry.target.is_none() && opts.max_level.is_none_or(|max| level < max) {
                list(
                    opts,
                    out,
                    &path,
                    &format!("{prefix}{indent}"),
                    level + 1,
                    counts,
                )?;
            }
        } else {
            counts.files += 1;
        }
    }
    Ok(())
}
