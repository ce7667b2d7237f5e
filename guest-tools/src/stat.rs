//! `stat`: GNU stat's default report, `-c/--format` and `--printf` with
//! the common sequences, and `-L`. What WASI does not tell (mode, owner,
//! links, inode, device, blocks, change time) comes from cordon's host
//! (`cordon.file_info`). Times are shown in UTC; a birth time is unknown
//! (`-`), as WASI has none.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use cordon_host_calls::FileInfo;

use crate::io_error::describe;

/// GNU stat's report for a file that is not a device.
const DEFAULT: &str = "  File: %N\n  Size: %-10s\tBlocks: %-10b IO Block: %-6o %F\nDevice: %Hd,%Ld\tInode: %-11i Links: %h\nAccess: (%04a/%10.10A)  Uid: (%5u/%8U)   Gid: (%5g/%8G)\nAccess: %x\nModify: %y\nChange: %z\n Birth: %w\n";

/// ... and for a device, which also shows its type.
const DEFAULT_DEVICE: &str = "  File: %N\n  Size: %-10s\tBlocks: %-10b IO Block: %-6o %F\nDevice: %Hd,%Ld\tInode: %-11i Links: %-5h Device type: %Hr,%Lr\nAccess: (%04a/%10.10A)  Uid: (%5u/%8U)   Gid: (%5g/%8G)\nAccess: %x\nModify: %y\nChange: %z\n Birth: %w\n";

pub fn main(args: Vec<OsString>) -> i32 {
    let mut follow = false;
    let mut format: Option<(String, bool)> = None;
    let mut files = Vec::new();
    let mut args = args.into_iter().skip(1);
    let mut only_files = false;
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        if only_files || !text.starts_with('-') || text == "-" {
            files.push(arg);
            continue;
        }
        let value = |inline: Option<&str>, args: &mut dyn Iterator<Item = OsString>| {
            inline
                .map(str::to_string)
                .or_else(|| args.next().map(|v| v.to_string_lossy().into_owned()))
        };
        let parsed = match text.as_str() {
            "--" => {
                only_files = true;
                continue;
            }
            "-L" | "--dereference" => {
                follow = true;
                continue;
            }
            "-c" => value(None, &mut args).map(|f| (f, true)),
            "--printf" => value(None, &mut args).map(|f| (f, false)),
            _ if text.starts_with("--format=") => {
                value(text.strip_prefix("--format="), &mut args).map(|f| (f, true))
            }
            _ if text.starts_with("--printf=") => {
                value(text.strip_prefix("--printf="), &mut args).map(|f| (f, false))
            }
            _ if text.starts_with("-c") => Some((text[2..].to_string(), true)),
            _ => {
                eprintln!("stat: invalid option -- '{}'", text.trim_start_matches('-'));
                eprintln!("Try 'stat --help' for more information.");
                return 1;
            }
        };
        match parsed {
            Some(parsed) => format = Some(parsed),
            None => {
                eprintln!("stat: option requires an argument -- '{text}'");
                return 1;
            }
        }
    }
    if files.is_empty() {
        eprintln!("stat: missing operand");
        eprintln!("Try 'stat --help' for more information.");
        return 1;
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut code = 0;
    for file in files {
        let path = Path::new(&file);
        let file = match File::of(path, follow) {
            Ok(file) => file,
            Err(err) => {
                let _ = out.flush();
                eprintln!(
                    "stat: cannot statx '{}': {}",
                    path.display(),
                    describe(&err)
                );
                code = 1;
                continue;
            }
        };
        let text = match &format {
            // `-c` ends each file's line; `--printf` prints only what it
            // says, with backslash escapes.
            Some((format, true)) => format!("{}\n", file.render(format, true)),
            Some((format, false)) => file.render(&unescape(format), true),
            None if file.is_device() => file.render(DEFAULT_DEVICE, false),
            None => file.render(DEFAULT, false),
        };
        if out.write_all(text.as_bytes()).is_err() {
            return 1;
        }
    }
    if out.flush().is_err() {
        return 1;
    }
    code
}

/// One file as stat sees it.
struct File<'a> {
    path: &'a Path,
    meta: std::fs::Metadata,
    info: FileInfo,
    /// What a symlink points to (not followed).
    target: Option<String>,
}

impl<'a> File<'a> {
    fn of(path: &'a Path, follow: bool) -> io::Result<File<'a>> {
        let meta = if follow {
            std::fs::metadata(path)?
        } else {
            std::fs::symlink_metadata(path)?
        };
        let info = cordon_host_calls::file_info_of(path, follow).unwrap_or_else(|| FileInfo {
            mode: if meta.is_dir() { 0o40755 } else { 0o100644 },
            uid: 0,
            gid: 0,
            nlink: 1,
            ino: 0,
            dev: 0,
            rdev: 0,
            blocks: meta.len().div_ceil(512),
            blksize: 4096,
            ctime: (0, 0),
            user: "UNKNOWN".into(),
            group: "UNKNOWN".into(),
        });
        let target = if meta.is_symlink() {
            std::fs::read_link(path)
                .ok()
                .map(|t| t.to_string_lossy().into_owned())
        } else {
            None
        };
        Ok(File {
            path,
            meta,
            info,
            target,
        })
    }

    fn is_device(&self) -> bool {
        matches!(self.info.mode & 0o170000, 0o020000 | 0o060000)
    }

    /// `format` with every `%` sequence filled in; `%N` quotes names if
    /// `quote` (not in the default report).
    fn render(&self, format: &str, quote: bool) -> String {
        let mut out = String::new();
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let mut spec = String::new();
            while let Some(&f) = chars.peek() {
                if "-+ #0'".contains(f) || f.is_ascii_digit() || f == '.' {
                    spec.push(f);
                    chars.next();
                } else {
                    break;
                }
            }
            // %Hd, %Ld, %Hr, %Lr: major and minor device numbers.
            let half = match chars.peek() {
                Some('H') | Some('L') => chars.next(),
                _ => None,
            };
            let Some(conversion) = chars.next() else {
                out.push('%');
                out.push_str(&spec);
                break;
            };
            match self.field(conversion, half, quote) {
                Some(Field::Text(text)) => pad(&mut out, &spec, &text, false),
                Some(Field::Number(text)) => pad(&mut out, &spec, &text, true),
                None if conversion == '%' => out.push('%'),
                None => {
                    out.push('%');
                    out.push_str(&spec);
                    out.extend(half);
                    out.push(conversion);
                }
            }
        }
        out
    }

    fn field(&self, conversion: char, half: Option<char>, quote: bool) -> Option<Field> {
        use Field::{Number, Text};
        let info = &self.info;
        let number = |n: u64| Some(Number(n.to_string()));
        match (half, conversion) {
            (Some('H'), 'd') => number(major(info.dev)),
            (Some('L'), 'd') => number(minor(info.dev)),
            (Some('H'), 'r') => number(major(info.rdev)),
            (Some('L'), 'r') => number(minor(info.rdev)),
            (Some(_), _) => None,
            (None, 'a') => Some(Number(format!("{:o}", info.mode & 0o7777))),
            (None, 'A') => Some(Text(mode_string(info.mode))),
            (None, 'b') => number(info.blocks),
            (None, 'B') => number(512),
            (None, 'd') => number(info.dev),
            (None, 'D') => Some(Text(format!("{:x}", info.dev))),
            (None, 'f') => Some(Text(format!("{:x}", info.mode))),
            (None, 'F') => Some(Text(file_type(info.mode, self.meta.len()).into())),
            (None, 'g') => number(info.gid.into()),
            (None, 'G') => Some(Text(info.group.clone())),
            (None, 'h') => number(info.nlink),
            (None, 'i') => number(info.ino),
            (None, 'n') => Some(Text(self.path.display().to_string())),
            (None, 'N') => Some(Text(self.name_and_target(quote))),
            (None, 'o') => number(info.blksize),
            (None, 's') => number(self.meta.len()),
            (None, 't') => Some(Text(format!("{:x}", major(info.rdev)))),
            (None, 'T') => Some(Text(format!("{:x}", minor(info.rdev)))),
            (None, 'u') => number(info.uid.into()),
            (None, 'U') => Some(Text(info.user.clone())),
            (None, 'w') => Some(Text("-".into())),
            (None, 'W') => number(0),
            (None, 'x') => Some(Text(when(self.meta.accessed().ok()))),
            (None, 'X') => number(seconds(self.meta.accessed().ok())),
            (None, 'y') => Some(Text(when(self.meta.modified().ok()))),
            (None, 'Y') => number(seconds(self.meta.modified().ok())),
            (None, 'z') => Some(Text(when(Some(changed(info))))),
            (None, 'Z') => number(info.ctime.0),
            _ => None,
        }
    }

    /// `%N`: the name, and what a symlink points to, each quoted if
    /// `quoted`.
    fn name_and_target(&self, quoted: bool) -> String {
        let shown = |name: String| if quoted { quote(&name) } else { name };
        let name = shown(self.path.display().to_string());
        match &self.target {
            Some(target) => format!("{name} -> {}", shown(target.clone())),
            None => name,
        }
    }
}

enum Field {
    Text(String),
    /// Padded with zeros under `%0N`.
    Number(String),
}

/// `text` padded as a printf `%[-0]WIDTH[.PREC]` asks.
fn pad(out: &mut String, spec: &str, text: &str, numeric: bool) {
    let left = spec.contains('-');
    let digits = spec.trim_start_matches(|c: char| "-+ #'".contains(c));
    let zero = numeric && digits.starts_with('0') && !left;
    let (width, precision) = match digits.split_once('.') {
        Some((width, precision)) => (width, precision.parse::<usize>().ok()),
        None => (digits, None),
    };
    let width: usize = width.parse().unwrap_or(0);
    let text: String = match precision {
        Some(precision) if !numeric => text.chars().take(precision).collect(),
        _ => text.to_string(),
    };
    let fill = width.saturating_sub(text.chars().count());
    match (left, zero) {
        (true, _) => {
            out.push_str(&text);
            out.extend(std::iter::repeat_n(' ', fill));
        }
        (false, true) => {
            out.extend(std::iter::repeat_n('0', fill));
            out.push_str(&text);
        }
        (false, false) => {
            out.extend(std::iter::repeat_n(' ', fill));
            out.push_str(&text);
        }
    }
}

/// A name in single quotes, as GNU's `%N` shows it.
fn quote(name: &str) -> String {
    format!("'{}'", name.replace('\'', "'\\''"))
}

fn major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}

fn minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}

fn file_type(mode: u32, size: u64) -> &'static str {
    match mode & 0o170000 {
        0o100000 if size == 0 => "regular empty file",
        0o100000 => "regular file",
        0o040000 => "directory",
        0o120000 => "symbolic link",
        0o010000 => "fifo",
        0o140000 => "socket",
        0o020000 => "character special file",
        0o060000 => "block special file",
        _ => "weird file",
    }
}

/// `-rw-r--r--`, as ls shows a mode.
fn mode_string(mode: u32) -> String {
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o010000 => 'p',
        0o140000 => 's',
        0o020000 => 'c',
        0o060000 => 'b',
        _ => '-',
    };
    let mut text = String::from(kind);
    for (shift, special, set, unset) in [
        (6, 0o4000, 's', 'S'),
        (3, 0o2000, 's', 'S'),
        (0, 0o1000, 't', 'T'),
    ] {
        let bits = (mode >> shift) & 7;
        text.push(if bits & 4 != 0 { 'r' } else { '-' });
        text.push(if bits & 2 != 0 { 'w' } else { '-' });
        text.push(match (mode & special != 0, bits & 1 != 0) {
            (true, true) => set,
            (true, false) => unset,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    text
}

fn changed(info: &FileInfo) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::new(info.ctime.0, info.ctime.1)
}

fn seconds(time: Option<std::time::SystemTime>) -> u64 {
    time.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// `2023-11-14 22:13:20.000000000 +0000`.
fn when(time: Option<std::time::SystemTime>) -> String {
    let Some(since) = time.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) else {
        return "-".into();
    };
    let Ok(stamp) = jiff::Timestamp::new(since.as_secs() as i64, since.subsec_nanos() as i32)
    else {
        return "-".into();
    };
    let mut text = stamp
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string();
    let _ = write!(text, ".{:09} +0000", since.subsec_nanos());
    text
}

/// `--printf`'s backslash escapes.
fn unescape(format: &str) -> String {
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('0') => out.push('\0'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}
