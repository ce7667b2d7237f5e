//! `du`: GNU du for the flags agents use (`-a -s -c -h -k -m -b
//! --apparent-size -d/--max-depth -l`). Disk usage comes from cordon's host
//! (`cordon.file_info`: WASI has no block counts); a hard-linked file is
//! counted once unless `-l`. Directories are walked in name order, where
//! GNU du takes the directory's own order.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::Path;

use crate::io_error::describe;

/// How sizes are shown.
#[derive(Clone, Copy, PartialEq)]
enum Unit {
    /// Blocks of this many bytes, rounded up.
    Blocks(u64),
    /// `-h`: 4.0K, 12K, 1.1M.
    Human,
}

struct Options {
    all: bool,
    summarize: bool,
    total: bool,
    apparent: bool,
    count_links: bool,
    max_depth: Option<usize>,
    unit: Unit,
    operands: Vec<OsString>,
}

pub fn main(args: Vec<OsString>) -> i32 {
    let opts = match parse(args) {
        Ok(opts) => opts,
        Err(message) => {
            eprintln!("du: {message}");
            eprintln!("Try 'du --help' for more information.");
            return 1;
        }
    };
    let mut walk = Walk {
        opts: &opts,
        seen: HashSet::new(),
        out: io::BufWriter::new(io::stdout().lock()),
        failed: false,
    };
    let mut grand = 0;
    let operands = if opts.operands.is_empty() {
        vec![OsString::from(".")]
    } else {
        opts.operands.clone()
    };
    for operand in &operands {
        grand += walk.visit(Path::new(operand), 0, true);
    }
    if opts.total {
        walk.print(grand, Path::new("total"));
    }
    if walk.out.flush().is_err() {
        return 1;
    }
    i32::from(walk.failed)
}

fn parse(args: Vec<OsString>) -> Result<Options, String> {
    let mut opts = Options {
        all: false,
        summarize: false,
        total: false,
        apparent: false,
        count_links: false,
        max_depth: None,
        unit: Unit::Blocks(1024),
        operands: Vec::new(),
    };
    let mut args = args.into_iter().skip(1);
    let mut only_operands = false;
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        if only_operands || text == "-" || !text.starts_with('-') {
            opts.operands.push(arg);
            continue;
        }
        if text == "--" {
            only_operands = true;
            continue;
        }
        if let Some(long) = text.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (long, None),
            };
            match name {
                "all" => opts.all = true,
                "summarize" => opts.summarize = true,
                "total" => opts.total = true,
                "human-readable" => opts.unit = Unit::Human,
                "apparent-size" => opts.apparent = true,
                "bytes" => {
                    opts.apparent = true;
                    opts.unit = Unit::Blocks(1);
                }
                "count-links" => opts.count_links = true,
                "max-depth" => {
                    let value = match value {
                        Some(value) => value,
                        None => args
                            .next()
                            .map(|v| v.to_string_lossy().into_owned())
                            .ok_or("option '--max-depth' requires an argument")?,
                    };
                    opts.max_depth = Some(depth(&value)?);
                }
                _ => return Err(format!("unrecognized option '--{name}'")),
            }
            continue;
        }
        let flags: Vec<char> = text[1..].chars().collect();
        for (i, flag) in flags.iter().enumerate() {
            match flag {
                'a' => opts.all = true,
                's' => opts.summarize = true,
                'c' => opts.total = true,
                'h' => opts.unit = Unit::Human,
                'k' => opts.unit = Unit::Blocks(1024),
                'm' => opts.unit = Unit::Blocks(1024 * 1024),
                'b' => {
                    opts.apparent = true;
                    opts.unit = Unit::Blocks(1);
                }
                'l' => opts.count_links = true,
                'd' => {
                    let rest: String = flags[i + 1..].iter().collect();
                    let value = if rest.is_empty() {
                        args.next()
                            .map(|v| v.to_string_lossy().into_owned())
                            .ok_or("option requires an argument -- 'd'")?
                    } else {
                        rest
                    };
                    opts.max_depth = Some(depth(&value)?);
                    break;
                }
                _ => return Err(format!("invalid option -- '{flag}'")),
            }
        }
    }
    if opts.summarize && opts.all {
        return Err("cannot both summarize and show all entries".into());
    }
    if opts.summarize {
        opts.max_depth = Some(0);
    }
    Ok(opts)
}

fn depth(value: &str) -> Result<usize, String> {
    value
        .parse()
        .map_err(|_| format!("invalid maximum depth '{value}'"))
}

struct Walk<'a, W: Write> {
    opts: &'a Options,
    /// Hard-linked files already counted: (device, inode).
    seen: HashSet<(u64, u64)>,
    out: W,
    failed: bool,
}

impl<W: Write> Walk<'_, W> {
    /// The usage of `path` and everything under it, in bytes; prints the
    /// lines the options ask for. `named`: given on the command line, where
    /// a symlink is not followed either (GNU du's default, -P).
    fn visit(&mut self, path: &Path, depth: usize, named: bool) -> u64 {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(err) => {
                self.fail(&format!("cannot access '{}'", path.display()), &err);
                return 0;
            }
        };
        let info = cordon_host_calls::file_info_of(path, false);
        if let Some(info) = &info
            && !meta.is_dir()
            && info.nlink > 1
            && !self.opts.count_links
            && !self.seen.insert((info.dev, info.ino))
        {
            return 0;
        }
        let own = if self.opts.apparent {
            meta.len()
        } else {
            match &info {
                Some(info) => info.blocks * 512,
                None => meta.len().div_ceil(512) * 512,
            }
        };
        let shown = self.opts.max_depth.is_none_or(|max| depth <= max);
        if !meta.is_dir() {
            if shown && (self.opts.all || named) {
                self.print(own, path);
            }
            return own;
        }
        let mut total = own;
        match std::fs::read_dir(path) {
            Ok(entries) => {
                let mut names: Vec<OsString> = Vec::new();
                for entry in entries {
                    match entry {
                        Ok(entry) => names.push(entry.file_name()),
                        Err(err) => {
                            self.fail(&format!("cannot read directory '{}'", path.display()), &err)
                        }
                    }
                }
                names.sort();
                for name in names {
                    total += self.visit(&path.join(name), depth + 1, false);
                }
            }
            Err(err) => self.fail(&format!("cannot read directory '{}'", path.display()), &err),
        }
        if shown {
            self.print(total, path);
        }
        total
    }

    fn print(&mut self, bytes: u64, path: &Path) {
        let size = match self.opts.unit {
            Unit::Blocks(block) => bytes.div_ceil(block).to_string(),
            Unit::Human => human(bytes),
        };
        // A closed pipe ends the output, not the count.
        let _ = writeln!(self.out, "{size}\t{}", path.display());
    }

    fn fail(&mut self, what: &str, err: &io::Error) {
        let _ = self.out.flush();
        eprintln!("du: {what}: {}", describe(err));
        self.failed = true;
    }
}

/// `bytes` as `du -h` shows it: powers of 1024, rounded up, one decimal
/// below 10.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    if bytes < 1024 {
        return bytes.to_string();
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    loop {
        let shown = if value < 10.0 {
            (value * 10.0).ceil() / 10.0
        } else {
            value.ceil()
        };
        if shown >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
            continue;
        }
        return if shown < 10.0 {
            format!("{shown:.1}{}", UNITS[unit])
        } else {
            format!("{shown:.0}{}", UNITS[unit])
        };
    }
}
