//! `tar`, `gzip`, `gunzip` and `zcat`, as GNU tar 1.34 and GNU gzip 1.12
//! behave for what agents ask of them, over the tar and flate2 crates.
//!
//! tar creates (`-c`), extracts (`-x`) and lists (`-t`) archives, plain or
//! gzip'd: `-z` (or `-a` and a `.tgz` name) to write one; on reading, gzip
//! is recognised by its magic bytes. GNU's option forms all work: bundled
//! old-style letters (`tar czf x.tgz dir`), clusters (`-xzf`), long options
//! and their unambiguous abbreviations. Archives are written in GNU's
//! format, directories walked in name order, with the permission bits,
//! owners and hard links that cordon's host tells (`cordon.file_info`:
//! WASI has none of them). Extraction cannot apply modes or owners: files
//! get the host's defaults.
//!
//! Extraction never writes outside the directory it extracts into,
//! whatever the archive says. Leading `/` is removed from member names, and
//! everything up to a `..` from hard link targets (GNU's warnings say so);
//! a member whose name holds `..` is refused. A member is created only
//! through real directories: a symlink on the way (the archive's own
//! `link -> /etc` before `link/passwd`, or one already there) refuses the
//! member instead of being followed. What stands at a member's name is
//! removed first (a symlink itself, never what it points to; a directory
//! only if empty), so a file member never writes through a symlink or into
//! a hard link's other names. A hard link's target must be reached the
//! same way, from inside the destination. Symlinks are created as written:
//! a symlink is only a name, and nothing after it is written through it.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::ffi::{CString, OsStr, OsString};
use std::fmt::{self, Display, Write as _};
use std::fs;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::os::wasi::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use flate2::{Compression, GzBuilder};
use tar::{EntryType, Header};

use crate::io_error::describe;

/// GNU tar writes archives in records of 20 blocks.
const RECORD: u64 = 10240;

/// Where a long listing's owner-and-size and date columns start; both
/// grow, for the rest of the listing, when a wider value comes (GNU's).
const UGS_WIDTH: usize = 18;
const DATE_WIDTH: usize = 16;

/// What `--exclude-vcs` leaves out (GNU's list).
const VCS: &[&str] = &[
    "CVS",
    ".cvsignore",
    "RCS",
    "SCCS",
    ".svn",
    ".git",
    ".gitignore",
    ".gitattributes",
    ".gitmodules",
    "{arch}",
    ".arch-ids",
    ".bzr",
    ".bzrignore",
    ".bzrtags",
    ".hg",
    ".hgignore",
    ".hgtags",
    "_darcs",
];

/// tar's long options, and whether each takes a value.
const TAR_LONG: &[(&str, bool)] = &[
    ("append", false),
    ("auto-compress", false),
    ("bzip2", false),
    ("catenate", false),
    ("compress", false),
    ("concatenate", false),
    ("create", false),
    ("delete", false),
    ("directory", true),
    ("exclude", true),
    ("exclude-from", true),
    ("exclude-vcs", false),
    ("extract", false),
    ("file", true),
    ("files-from", true),
    ("get", false),
    ("gunzip", false),
    ("gzip", false),
    ("help", false),
    ("keep-old-files", false),
    ("list", false),
    ("lzip", false),
    ("lzma", false),
    ("lzop", false),
    ("no-same-owner", false),
    ("no-same-permissions", false),
    ("null", false),
    ("numeric-owner", false),
    ("overwrite", false),
    ("preserve-permissions", false),
    ("same-owner", false),
    ("same-permissions", false),
    ("skip-old-files", false),
    ("sort", true),
    ("strip-components", true),
    ("to-stdout", false),
    ("touch", false),
    ("uncompress", false),
    ("ungzip", false),
    ("unlink-first", false),
    ("update", false),
    ("verbose", false),
    ("version", false),
    ("warning", true),
    ("xz", false),
    ("zstd", false),
];

/// tar's short options and the long ones they stand for.
const TAR_SHORT: &[(u8, &str)] = &[
    (b'A', "catenate"),
    (b'C', "directory"),
    (b'J', "xz"),
    (b'O', "to-stdout"),
    (b'T', "files-from"),
    (b'U', "unlink-first"),
    (b'X', "exclude-from"),
    (b'Z', "compress"),
    (b'a', "auto-compress"),
    (b'c', "create"),
    (b'f', "file"),
    (b'j', "bzip2"),
    (b'k', "keep-old-files"),
    (b'm', "touch"),
    (b'o', "no-same-owner"),
    (b'p', "preserve-permissions"),
    (b'r', "append"),
    (b't', "list"),
    (b'u', "update"),
    (b'v', "verbose"),
    (b'x', "extract"),
    (b'z', "gzip"),
];

const TAR_HELP: &str = "\
Usage: tar [OPTION...] [FILE]...
cordon's built-in tar: GNU tar's ways of creating, extracting and listing
archives, plain or gzip'd.

  -c, --create               create a new archive
  -x, --extract, --get       extract files from an archive
  -t, --list                 list the contents of an archive
  -f, --file=ARCHIVE         use archive file ARCHIVE (- for stdin/stdout)
  -z, --gzip                 gzip the archive written (read: detected)
  -a, --auto-compress        with -c, gzip when ARCHIVE ends in .gz or .tgz
  -C, --directory=DIR        change to directory DIR
  -v, --verbose              list the files processed (twice: in long form)
  -O, --to-stdout            extract files to standard output
      --strip-components=N   strip N leading components when extracting
      --exclude=PATTERN      exclude files matching PATTERN
      --exclude-vcs          exclude version control directories
  -X, --exclude-from=FILE    exclude the patterns listed in FILE
  -T, --files-from=FILE      get the names to archive or extract from FILE
      --null                 -T reads names ended by NUL
  -k, --keep-old-files       don't replace existing files when extracting
      --skip-old-files       don't replace existing files, silently
  -m, --touch                don't extract files' modification times
      --numeric-owner        list owners as numbers

Extraction never writes outside the directory it extracts into: leading
`/' is removed from names, names with `..' are refused, and nothing is
written through a symlink.
";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Create,
    Extract,
    List,
}

/// A name to archive or select, or a `-C`, in the order given.
enum Operand {
    Name(Vec<u8>),
    Chdir(Vec<u8>),
}

#[derive(Default)]
struct TarOptions {
    mode: Option<Mode>,
    archive: Option<Vec<u8>>,
    gzip: bool,
    auto_compress: bool,
    verbose: u8,
    to_stdout: bool,
    strip: usize,
    keep_old: bool,
    skip_old: bool,
    touch: bool,
    numeric_owner: bool,
    null: bool,
    excludes: Vec<Vec<u8>>,
    operands: Vec<Operand>,
}

/// Why option parsing stopped short of running.
enum Early {
    /// A usage error and its exit code.
    Usage(String, i32),
    Fatal(Fatal),
    Help,
    Version,
}

/// An error tar cannot go on after: the lines to print before GNU's last
/// word ("Error is not recoverable").
struct Fatal(String);

fn fatal(message: impl Display) -> Fatal {
    Fatal(format!("tar: {message}"))
}

pub fn tar_main(args: Vec<OsString>) -> i32 {
    let opts = match parse_tar(args) {
        Ok(opts) => opts,
        Err(Early::Usage(message, code)) => return tar_usage(&message, code),
        Err(Early::Fatal(Fatal(lines))) => return unrecoverable(&lines),
        Err(Early::Help) => {
            let _ = io::stdout().lock().write_all(TAR_HELP.as_bytes());
            return 0;
        }
        Err(Early::Version) => {
            let _ = writeln!(
                io::stdout().lock(),
                "tar (cordon's built-in tar): GNU tar 1.34's -c, -x and -t"
            );
            return 0;
        }
    };
    let Some(mode) = opts.mode else {
        return tar_usage(
            "You must specify one of the '-Acdtrux', '--delete' or '--test-label' options",
            2,
        );
    };
    let names = opts.operands.iter().any(|o| matches!(o, Operand::Name(_)));
    if mode == Mode::Create && !names {
        return tar_usage("Cowardly refusing to create an empty archive", 2);
    }
    let mut tar = Tar {
        opts,
        failed: false,
        removed: BTreeSet::new(),
        ugs_width: UGS_WIDTH,
        date_width: DATE_WIDTH,
        linked: HashMap::new(),
    };
    let done = match mode {
        Mode::Create => tar.create(),
        Mode::Extract => tar.read_archive(true),
        Mode::List => tar.read_archive(false),
    };
    if let Err(Fatal(lines)) = done {
        return unrecoverable(&lines);
    }
    if tar.failed {
        eprintln!("tar: Exiting with failure status due to previous errors");
        return 2;
    }
    0
}

fn tar_usage(message: &str, code: i32) -> i32 {
    eprintln!("tar: {message}");
    eprintln!("Try 'tar --help' or 'tar --usage' for more information.");
    code
}

fn unrecoverable(lines: &str) -> i32 {
    eprintln!("{lines}");
    eprintln!("tar: Error is not recoverable: exiting now");
    2
}

fn parse_tar(args: Vec<OsString>) -> Result<TarOptions, Early> {
    let mut args: Vec<Vec<u8>> = args
        .iter()
        .skip(1)
        .map(|arg| arg.as_bytes().to_vec())
        .collect();
    // Old style: the first word's letters are options, and the values of
    // those that take one are the next words, in order (`tar czf x.tgz d`).
    if args.first().is_some_and(|a| !a.is_empty() && a[0] != b'-') {
        let rest = args.split_off(1);
        let letters = args.remove(0);
        let mut rest = rest.into_iter();
        for &letter in &letters {
            let Some(long) = tar_short(letter) else {
                return Err(Early::Usage(
                    format!("invalid option -- '{}'", char::from(letter)),
                    64,
                ));
            };
            args.push(vec![b'-', letter]);
            if tar_takes_value(long) {
                match rest.next() {
                    Some(value) => args.push(value),
                    None => {
                        return Err(Early::Usage(
                            format!("Old option '{}' requires an argument.", char::from(letter)),
                            2,
                        ));
                    }
                }
            }
        }
        args.extend(rest);
    }
    let mut opts = TarOptions::default();
    let mut i = 0;
    let mut only_operands = false;
    while i < args.len() {
        let arg = args[i].clone();
        i += 1;
        if only_operands || arg.len() < 2 || arg[0] != b'-' {
            opts.operands.push(Operand::Name(arg));
        } else if arg == b"--" {
            only_operands = true;
        } else if let Some(long) = arg.strip_prefix(b"--") {
            let (name, inline) = split_value(long);
            let shown = String::from_utf8_lossy(&arg).into_owned();
            let (name, takes) = resolve_long(TAR_LONG, &String::from_utf8_lossy(name), &shown)
                .map_err(|why| Early::Usage(why, 64))?;
            let value = match (takes, inline) {
                (true, Some(value)) => Some(value),
                (true, None) if i < args.len() => {
                    i += 1;
                    Some(args[i - 1].clone())
                }
                (true, None) => {
                    return Err(Early::Usage(
                        format!("option '--{name}' requires an argument"),
                        64,
                    ));
                }
                (false, Some(_)) => {
                    return Err(Early::Usage(
                        format!("option '--{name}' doesn't allow an argument"),
                        64,
                    ));
                }
                (false, None) => None,
            };
            apply_tar(&mut opts, name, value)?;
        } else {
            let mut k = 1;
            while k < arg.len() {
                let letter = arg[k];
                k += 1;
                let long = tar_short(letter).ok_or_else(|| {
                    Early::Usage(format!("invalid option -- '{}'", char::from(letter)), 64)
                })?;
                let mut value = None;
                if tar_takes_value(long) {
                    if k < arg.len() {
                        value = Some(arg[k..].to_vec());
                        k = arg.len();
                    } else if i < args.len() {
                        value = Some(args[i].clone());
                        i += 1;
                    } else {
                        return Err(Early::Usage(
                            format!("option requires an argument -- '{}'", char::from(letter)),
                            64,
                        ));
                    }
                }
                apply_tar(&mut opts, long, value)?;
            }
        }
    }
    Ok(opts)
}

fn tar_short(letter: u8) -> Option<&'static str> {
    TAR_SHORT
        .iter()
        .find(|(short, _)| *short == letter)
        .map(|&(_, long)| long)
}

fn tar_takes_value(long: &str) -> bool {
    TAR_LONG.iter().any(|&(name, takes)| name == long && takes)
}

/// `name=value` split at the first `=`.
fn split_value(option: &[u8]) -> (&[u8], Option<Vec<u8>>) {
    match option.iter().position(|&b| b == b'=') {
        Some(eq) => (&option[..eq], Some(option[eq + 1..].to_vec())),
        None => (option, None),
    }
}

/// The long option `name` stands for: itself, or the only one it begins;
/// getopt's words otherwise (`shown` is the argument as given).
fn resolve_long<T: Copy>(
    table: &[(&'static str, T)],
    name: &str,
    shown: &str,
) -> Result<(&'static str, T), String> {
    if let Some(&exact) = table.iter().find(|(long, _)| *long == name) {
        return Ok(exact);
    }
    let candidates: Vec<&(&str, T)> = table
        .iter()
        .filter(|(long, _)| !name.is_empty() && long.starts_with(name))
        .collect();
    match candidates.as_slice() {
        [only] => Ok(**only),
        [] => Err(format!("unrecognized option '{shown}'")),
        many => {
            let listed: String = many
                .iter()
                .map(|(long, _)| format!(" '--{long}'"))
                .collect();
            Err(format!(
                "option '{shown}' is ambiguous; possibilities:{listed}"
            ))
        }
    }
}

fn apply_tar(opts: &mut TarOptions, option: &str, value: Option<Vec<u8>>) -> Result<(), Early> {
    let value = value.unwrap_or_default();
    match option {
        "create" | "extract" | "get" | "list" => {
            let mode = match option {
                "create" => Mode::Create,
                "list" => Mode::List,
                _ => Mode::Extract,
            };
            if opts.mode.is_some_and(|m| m != mode) {
                return Err(Early::Usage(
                    "You may not specify more than one '-Acdtrux', '--delete' or  '--test-label' option"
                        .into(),
                    2,
                ));
            }
            opts.mode = Some(mode);
        }
        "append" | "update" | "catenate" | "concatenate" | "delete" => {
            return Err(Early::Usage(
                format!("--{option} is not available in cordon's tar: only -c, -x and -t are"),
                2,
            ));
        }
        "bzip2" | "xz" | "lzma" | "lzip" | "lzop" | "zstd" | "compress" | "uncompress" => {
            return Err(Early::Usage(
                format!("--{option}: cordon's tar reads and writes gzip only (-z)"),
                2,
            ));
        }
        "file" => {
            if opts.archive.is_some() {
                return Err(Early::Usage(
                    "Multiple archive files require '-M' option".into(),
                    2,
                ));
            }
            opts.archive = Some(value);
        }
        "directory" => opts.operands.push(Operand::Chdir(value)),
        "gzip" | "gunzip" | "ungzip" => opts.gzip = true,
        "auto-compress" => opts.auto_compress = true,
        "verbose" => opts.verbose = opts.verbose.saturating_add(1),
        "to-stdout" => opts.to_stdout = true,
        "strip-components" => {
            opts.strip = std::str::from_utf8(&value)
                .ok()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| {
                    Early::Usage(format!("{}: Invalid number of elements", quote(&value)), 2)
                })?;
        }
        "keep-old-files" => opts.keep_old = true,
        "skip-old-files" => opts.skip_old = true,
        "touch" => opts.touch = true,
        "numeric-owner" => opts.numeric_owner = true,
        "null" => opts.null = true,
        "exclude" => opts.excludes.push(value),
        "exclude-vcs" => opts
            .excludes
            .extend(VCS.iter().map(|name| name.as_bytes().to_vec())),
        "exclude-from" => opts.excludes.extend(read_list(&value, opts.null)?),
        "files-from" => opts
            .operands
            .extend(read_list(&value, opts.null)?.into_iter().map(Operand::Name)),
        "help" => return Err(Early::Help),
        "version" => return Err(Early::Version),
        // Owners and modes are never restored (WASI has none to set),
        // existing files are always replaced rather than written through,
        // and directories are always walked in name order: these change
        // nothing here. `--warning` only quiets GNU's warnings.
        "no-same-owner"
        | "same-owner"
        | "no-same-permissions"
        | "same-permissions"
        | "preserve-permissions"
        | "overwrite"
        | "unlink-first"
        | "sort"
        | "warning" => {}
        _ => unreachable!("every option of TAR_LONG is handled"),
    }
    Ok(())
}

/// The lines (or NUL-ended names with `--null`) of FILE, `-` for stdin.
fn read_list(path: &[u8], null: bool) -> Result<Vec<Vec<u8>>, Early> {
    let mut text = Vec::new();
    let read = if path == b"-" {
        io::stdin().read_to_end(&mut text)
    } else {
        fs::File::open(os(path)).and_then(|mut file| file.read_to_end(&mut text))
    };
    read.map_err(|e| {
        Early::Fatal(fatal(format!(
            "{}: Cannot open: {}",
            quote(path),
            describe(&e)
        )))
    })?;
    let end = if null { 0 } else { b'\n' };
    Ok(text
        .split(|&b| b == end)
        .filter(|line| !line.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

/// One tar run.
struct Tar {
    opts: TarOptions,
    /// An error was reported: exit 2, after GNU's last line.
    failed: bool,
    /// The prefixes already reported as removed, for member names (false)
    /// and hard link targets (true): GNU says so once for each.
    removed: BTreeSet<(bool, Vec<u8>)>,
    ugs_width: usize,
    date_width: usize,
    /// Creating: the member name each file with several links was first
    /// archived under, by device and inode; its other names become hard
    /// links to it.
    linked: HashMap<(u64, u64), Vec<u8>>,
}

impl Tar {
    fn error(&mut self, message: impl Display) {
        eprintln!("tar: {message}");
        self.failed = true;
    }

    fn archive_is_stdio(&self) -> bool {
        matches!(self.opts.archive.as_deref(), None | Some(b"-"))
    }

    /// The archive's name, as messages give it.
    fn archive_shown(&self) -> String {
        match &self.opts.archive {
            Some(name) => quote(name),
            None => "-".into(),
        }
    }

    /// Prints a line of the listing: on stdout, unless stdout carries the
    /// archive being written or the members' contents (`-O`), as GNU does.
    fn say(&self, line: &str) {
        let creating = self.opts.mode == Some(Mode::Create);
        if self.opts.to_stdout || (creating && self.archive_is_stdio()) {
            eprintln!("{line}");
        } else {
            let _ = writeln!(io::stdout().lock(), "{line}");
        }
    }

    /// Prints what happens to a member: its name, or (`long`) GNU's long
    /// listing line.
    fn tell(&mut self, long: bool, listed: &Listed, name: &[u8], link: Option<&[u8]>) {
        let line = if long {
            self.long_line(listed, name, link)
        } else {
            quote(name)
        };
        self.say(&line);
    }

    /// `name` without its leading slashes, and without everything up to
    /// its last `..` component: GNU's safer_name_suffix, with its warning,
    /// once for each prefix removed.
    fn safer_name<'n>(&mut self, name: &'n [u8], link_target: bool) -> &'n [u8] {
        let mut prefix = 0;
        let mut start = 0;
        while start < name.len() {
            let end = name[start..]
                .iter()
                .position(|&b| b == b'/')
                .map_or(name.len(), |at| start + at);
            if &name[start..end] == b".." {
                prefix = end;
            }
            start = end + 1;
        }
        while prefix < name.len() && name[prefix] == b'/' {
            prefix += 1;
        }
        if prefix > 0 && self.removed.insert((link_target, name[..prefix].to_vec())) {
            let what = if link_target {
                "hard link targets"
            } else {
                "member names"
            };
            eprintln!(
                "tar: Removing leading `{}' from {what}",
                String::from_utf8_lossy(&name[..prefix])
            );
        }
        let rest = &name[prefix..];
        if rest.is_empty() { &b"."[..] } else { rest }
    }

    /// Whether an `--exclude` pattern matches `name`: as GNU's, a pattern
    /// matches the name or any tail of it that starts after a `/`, and a
    /// directory it matches takes what the directory holds along.
    fn excluded(&self, name: &[u8]) -> bool {
        if self.opts.excludes.is_empty() {
            return false;
        }
        let name = trim_slashes(name);
        let mut start = 0;
        loop {
            let tail = &name[start..];
            let mut from = 0;
            loop {
                let end = tail[from..]
                    .iter()
                    .position(|&b| b == b'/')
                    .map_or(tail.len(), |at| from + at);
                let leading = &tail[..end];
                if self.opts.excludes.iter().any(|p| fnmatch(p, leading)) {
                    return true;
                }
                if end == tail.len() {
                    break;
                }
                from = end + 1;
            }
            match tail.iter().position(|&b| b == b'/') {
                Some(at) => start += at + 1,
                None => return false,
            }
        }
    }

    fn long_line(&mut self, listed: &Listed, name: &[u8], link: Option<&[u8]>) -> String {
        let kind = match listed.typeflag {
            b'1' => 'h',
            b'2' => 'l',
            b'3' => 'c',
            b'4' => 'b',
            b'5' | b'D' => 'd',
            b'6' => 'p',
            b'7' => 'C',
            b'0' | b'\0' | b'S' if name.ends_with(b"/") => 'd',
            b'0' | b'\0' | b'S' => '-',
            _ => '?',
        };
        let pad = listed.user.len() + 1 + listed.group.len() + listed.size.len();
        self.ugs_width = self.ugs_width.max(pad);
        let time = format_time(listed.mtime);
        self.date_width = self.date_width.max(time.len());
        let mut line = format!(
            "{} {}/{} {:>size_width$} {:<date_width$} {}",
            mode_string(kind, listed.mode),
            listed.user,
            listed.group,
            listed.size,
            time,
            quote(name),
            size_width = self.ugs_width - pad + listed.size.len(),
            date_width = self.date_width,
        );
        match (listed.typeflag, link) {
            (b'2', Some(link)) => {
                line.push_str(" -> ");
                line.push_str(&quote(link));
            }
            (b'1', Some(link)) => {
                line.push_str(" link to ");
                line.push_str(&quote(link));
            }
            (b'0' | b'\0' | b'1' | b'2' | b'3' | b'4' | b'5' | b'6' | b'7' | b'S' | b'D', _) => {}
            (other, _) => {
                let _ = write!(line, " unknown file type '{}'", char::from(other));
            }
        }
        line
    }

    // Reading: -t and -x.

    /// Lists (`extract` false) or extracts the members of the archive.
    fn read_archive(&mut self, extract: bool) -> Result<(), Fatal> {
        let Some((reader, ended)) = self.open_input()? else {
            return Ok(());
        };
        let mut names = Vec::new();
        for operand in &self.opts.operands {
            match operand {
                // The archive was opened from where tar started; members
                // land in the last directory -C names.
                Operand::Chdir(dir) => enter(dir)?,
                Operand::Name(name) => names.push(trim_slashes(name).to_vec()),
            }
        }
        let mut found = vec![false; names.len()];
        let mut dirs = Vec::new();
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(|e| {
            fatal(format!(
                "{}: Cannot read: {}",
                self.archive_shown(),
                describe(&e)
            ))
        })?;
        let mut first = true;
        for entry in entries {
            let mut entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    self.unreadable(&err, first, ended.get())?;
                    break;
                }
            };
            first = false;
            // A pax global header describes the archive, not a member.
            if entry.header().entry_type().is_pax_global_extensions() {
                continue;
            }
            let name = entry.path_bytes().into_owned();
            let link = entry.link_name_bytes().map(Cow::into_owned);
            let safe = self.safer_name(&name, false).to_vec();
            let mut wanted = names.is_empty();
            for (given, seen) in names.iter().zip(found.iter_mut()) {
                if member_matches(given, &safe) {
                    *seen = true;
                    wanted = true;
                }
            }
            if !wanted || self.excluded(&safe) {
                continue;
            }
            if extract {
                self.extract_member(&mut entry, &name, &safe, link.as_deref(), &mut dirs, &ended)?;
            } else {
                let listed = Listed::of(entry.header(), entry.size(), self.opts.numeric_owner);
                let long = self.opts.verbose > 0;
                self.tell(long, &listed, &name, link.as_deref());
            }
        }
        // Last, as GNU does: making what they hold changed their times.
        for (dir, mtime) in dirs.iter().rev() {
            set_mtime(dir, *mtime);
        }
        for (name, seen) in names.iter().zip(&found) {
            if !seen {
                self.error(format!("{}: Not found in archive", quote(name)));
            }
        }
        Ok(())
    }

    /// The archive's data, gunzipped if it is gzip'd, and a flag that is
    /// set once the data has ended. None: it is empty (reported).
    fn open_input(&mut self) -> Result<Option<Input>, Fatal> {
        let mut raw: Box<dyn Read> =
            match self.opts.archive.as_deref() {
                None | Some(b"-") => {
                    if io::stdin().is_terminal() {
                        return Err(fatal(
                            "Refusing to read archive contents from terminal (missing -f option?)",
                        ));
                    }
                    Box::new(io::stdin())
                }
                Some(path) => Box::new(fs::File::open(os(path)).map_err(|e| {
                    fatal(format!("{}: Cannot open: {}", quote(path), describe(&e)))
                })?),
            };
        let mut head = Vec::with_capacity(512);
        (&mut raw).take(512).read_to_end(&mut head).map_err(|e| {
            fatal(format!(
                "{}: Cannot read: {}",
                self.archive_shown(),
                describe(&e)
            ))
        })?;
        if head.is_empty() {
            self.error("This does not look like a tar archive");
            return Ok(None);
        }
        let packed = compression(&head);
        match packed {
            None | Some("gzip") => {}
            Some(other) => {
                return Err(fatal(format!(
                    "{}: the archive is {other}-compressed; cordon's tar reads gzip only",
                    self.archive_shown()
                )));
            }
        }
        let gzipped = packed.is_some();
        if self.opts.gzip && !gzipped {
            return Err(Fatal(
                "\ngzip: stdin: not in gzip format\ntar: Child returned status 1".into(),
            ));
        }
        let stream: Box<dyn Read> = Box::new(io::Cursor::new(head).chain(raw));
        let data: Box<dyn Read> = if gzipped {
            Box::new(Gunzip(flate2::bufread::MultiGzDecoder::new(
                BufReader::with_capacity(1 << 16, stream),
            )))
        } else {
            stream
        };
        let ended = Rc::new(Cell::new(false));
        let watched = Watched {
            inner: data,
            ended: Rc::clone(&ended),
        };
        Ok(Some((
            Box::new(BufReader::with_capacity(1 << 16, watched)),
            ended,
        )))
    }

    /// Reports an archive whose next header could not be read: damaged
    /// gzip data or a cut-off archive end tar; anything else is reported
    /// and ends the reading (GNU would look for the next header).
    fn unreadable(&mut self, err: &io::Error, first: bool, ended: bool) -> Result<(), Fatal> {
        if gzip_failure(err).is_some() || (ended && !first) {
            return Err(self.damaged(err, ended));
        }
        if first {
            self.error("This does not look like a tar archive");
        }
        if !ended {
            self.error("Skipping to next header");
        }
        Ok(())
    }

    /// The error tar stops at when the archive's data fails.
    fn damaged(&self, err: &io::Error, ended: bool) -> Fatal {
        if let Some(why) = gzip_failure(err) {
            return Fatal(format!(
                "\ngzip: stdin: {why}\ntar: Child returned status 1"
            ));
        }
        if ended {
            return fatal("Unexpected EOF in archive");
        }
        fatal(format!(
            "{}: Cannot read: {}",
            self.archive_shown(),
            describe(err)
        ))
    }

    fn extract_member(
        &mut self,
        entry: &mut Member<'_>,
        name: &[u8],
        safe: &[u8],
        link: Option<&[u8]>,
        dirs: &mut Vec<(PathBuf, u64)>,
        ended: &Cell<bool>,
    ) -> Result<(), Fatal> {
        if has_dot_dot(name) {
            self.error(format!("{}: Member name contains '..'", quote(name)));
            return Ok(());
        }
        let Some(target) = strip_components(safe, self.opts.strip).filter(|t| !t.is_empty()) else {
            return Ok(());
        };
        let header = entry.header();
        let typeflag = header.entry_type().as_byte();
        let mtime = header.mtime().unwrap_or(0);
        if self.opts.verbose > 0 {
            let listed = Listed::of(header, entry.size(), self.opts.numeric_owner);
            let long = self.opts.verbose > 1;
            self.tell(long, &listed, name, link);
        }
        if self.opts.to_stdout {
            if is_file_data(typeflag) {
                let expected = data_size(entry);
                let mut out = io::stdout().lock();
                let copied = copy_member(entry, &mut out).and_then(|n| {
                    out.flush().map_err(CopyError::Write)?;
                    Ok(n)
                });
                match copied {
                    Ok(n) if n < expected => return Err(fatal("Unexpected EOF in archive")),
                    Ok(_) => {}
                    Err(CopyError::Read(e)) => return Err(self.damaged(&e, ended.get())),
                    Err(CopyError::Write(e)) => {
                        return Err(fatal(format!("-: Cannot write: {}", describe(&e))));
                    }
                }
            }
            return Ok(());
        }
        let parts = components(target);
        if parts.is_empty() {
            // `.` or `./`: the directory extracted into.
            if typeflag == b'5' && !self.opts.touch {
                dirs.push((PathBuf::from("."), mtime));
            }
            return Ok(());
        }
        if let Err(why) = make_parents(&parts) {
            self.error(format!("{}: {why}", quote(target)));
            return Ok(());
        }
        let path = join(&parts);
        match typeflag {
            b'5' | b'D' => self.extract_dir(&path, target, mtime, dirs),
            b'2' => self.extract_symlink(&path, target, link.unwrap_or_default(), mtime),
            b'1' => {
                let cleaned = self.safer_name(link.unwrap_or_default(), true).to_vec();
                // Stripped like the names, or left whole if too short.
                let source = strip_components(&cleaned, self.opts.strip).unwrap_or(&cleaned[..]);
                self.extract_hard_link(&path, target, &parts, source);
            }
            b'3' | b'4' | b'6' => self.error(format!(
                "{}: Cannot mknod: Operation not supported",
                quote(target)
            )),
            _ => return self.extract_file(entry, &path, target, typeflag, mtime, ended),
        }
        Ok(())
    }

    fn extract_file(
        &mut self,
        entry: &mut Member<'_>,
        path: &Path,
        target: &[u8],
        typeflag: u8,
        mtime: u64,
        ended: &Cell<bool>,
    ) -> Result<(), Fatal> {
        if !matches!(typeflag, b'0' | b'\0' | b'7' | b'S') {
            // A warning only, as with GNU.
            eprintln!(
                "tar: {}: Unknown file type '{}', extracted as normal file",
                quote(target),
                char::from(typeflag)
            );
        }
        if !self.make_room(path, target, "Cannot open") {
            return Ok(());
        }
        // create_new: never opened through a symlink put there meanwhile.
        let opened = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path);
        let mut file = match opened {
            Ok(file) => file,
            Err(e) => {
                self.error(format!("{}: Cannot open: {}", quote(target), describe(&e)));
                return Ok(());
            }
        };
        let expected = data_size(entry);
        match copy_member(entry, &mut file) {
            Ok(n) if n < expected => return Err(fatal("Unexpected EOF in archive")),
            Ok(_) => {}
            Err(CopyError::Read(e)) => return Err(self.damaged(&e, ended.get())),
            Err(CopyError::Write(e)) => {
                self.error(format!("{}: Cannot write: {}", quote(target), describe(&e)));
            }
        }
        if !self.opts.touch
            && let Some(time) = UNIX_EPOCH.checked_add(Duration::from_secs(mtime))
        {
            let _ = file.set_modified(time);
        }
        Ok(())
    }

    fn extract_dir(
        &mut self,
        path: &Path,
        target: &[u8],
        mtime: u64,
        dirs: &mut Vec<(PathBuf, u64)>,
    ) {
        let made = match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) if self.opts.skip_old => return,
            Ok(_) if self.opts.keep_old => {
                self.error(format!("{}: Cannot mkdir: File exists", quote(target)));
                return;
            }
            // A file or a symlink where the archive has a directory gives
            // way to it, as with GNU; a symlink is removed, never followed.
            Ok(_) => fs::remove_file(path).and_then(|()| fs::create_dir(path)),
            Err(_) => fs::create_dir(path),
        };
        match made {
            Ok(()) if !self.opts.touch => dirs.push((path.to_path_buf(), mtime)),
            Ok(()) => {}
            Err(e) => self.error(format!("{}: Cannot mkdir: {}", quote(target), describe(&e))),
        }
    }

    fn extract_symlink(&mut self, path: &Path, target: &[u8], points_to: &[u8], mtime: u64) {
        let what = format!("Cannot create symlink to {}", quoted(points_to));
        if !self.make_room(path, target, &what) {
            return;
        }
        match symlink(points_to, path) {
            Ok(()) if !self.opts.touch => set_mtime(path, mtime),
            Ok(()) => {}
            Err(e) => self.error(format!("{}: {what}: {}", quote(target), describe(&e))),
        }
    }

    /// A hard link at `path` to `source`, an earlier member: reached, like
    /// any member, through real directories inside the destination only.
    fn extract_hard_link(&mut self, path: &Path, target: &[u8], parts: &[&[u8]], source: &[u8]) {
        let what = format!("Cannot hard link to {}", quoted(source));
        let from = components(source);
        if let Err(why) = existing_parents(&from) {
            self.error(format!("{}: {what}: {why}", quote(target)));
            return;
        }
        if from.as_slice() == parts {
            // A link to itself: the file is already there.
            return;
        }
        if !self.make_room(path, target, &what) {
            return;
        }
        if let Err(e) = fs::hard_link(join(&from), path) {
            self.error(format!("{}: {what}: {}", quote(target), describe(&e)));
        }
    }

    /// Clears the way for a member at `path`: what is there is removed (a
    /// symlink itself, never what it leads to; a directory only if empty),
    /// as GNU does by default, or kept with `-k` (an error, in the words
    /// `what` begins) or `--skip-old-files`. Whether the member may go on.
    fn make_room(&mut self, path: &Path, target: &[u8], what: &str) -> bool {
        let meta = match fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return true,
            Err(e) => {
                self.error(format!("{}: {what}: {}", quote(target), describe(&e)));
                return false;
            }
        };
        if self.opts.skip_old {
            return false;
        }
        if self.opts.keep_old {
            self.error(format!("{}: {what}: File exists", quote(target)));
            return false;
        }
        let removed = if meta.is_dir() {
            fs::remove_dir(path)
        } else {
            fs::remove_file(path)
        };
        match removed {
            Ok(()) => true,
            Err(_) if meta.is_dir() => {
                self.error(format!("{}: {what}: File exists", quote(target)));
                false
            }
            Err(e) => {
                self.error(format!(
                    "{}: Cannot unlink: {}",
                    quote(target),
                    describe(&e)
                ));
                false
            }
        }
    }

    // Writing: -c.

    fn create(&mut self) -> Result<(), Fatal> {
        let gzip = self.opts.gzip || self.auto_gzip()?;
        let sink: Box<dyn Write> =
            match self.opts.archive.as_deref() {
                None | Some(b"-") => {
                    if io::stdout().is_terminal() {
                        return Err(fatal(
                            "Refusing to write archive contents to terminal (missing -f option?)",
                        ));
                    }
                    Box::new(io::stdout())
                }
                Some(path) => Box::new(fs::File::create(os(path)).map_err(|e| {
                    fatal(format!("{}: Cannot open: {}", quote(path), describe(&e)))
                })?),
            };
        // Where the archive is, so that it is not put into itself; known
        // before -C moves elsewhere.
        let itself = match self.opts.archive.as_deref() {
            None | Some(b"-") => None,
            Some(path) => std::path::absolute(os(path)).ok(),
        };
        let buffered = BufWriter::with_capacity(1 << 16, sink);
        let sink = if gzip {
            Sink::Gzip(
                GzBuilder::new()
                    .operating_system(3)
                    .write(buffered, Compression::default()),
            )
        } else {
            Sink::Plain(buffered)
        };
        let mut out = Blocks { sink, written: 0 };
        let operands = std::mem::take(&mut self.opts.operands);
        for operand in &operands {
            match operand {
                Operand::Chdir(dir) => enter(dir)?,
                Operand::Name(name) => {
                    let given = trim_slashes(name);
                    let member = self.safer_name(given, false).to_vec();
                    self.add(
                        &mut out,
                        Path::new(os(given)),
                        given,
                        &member,
                        itself.as_deref(),
                    )?;
                }
            }
        }
        out.finish().map_err(|e| self.write_failed(&e))
    }

    /// `-a`: whether the archive's name asks for gzip.
    fn auto_gzip(&self) -> Result<bool, Fatal> {
        let name = match self.opts.archive.as_deref() {
            Some(name) if self.opts.auto_compress && name != b"-" => name,
            _ => return Ok(false),
        };
        let ends = |suffix: &&str| name.ends_with(suffix.as_bytes());
        if [".gz", ".tgz", ".taz"].iter().any(ends) {
            return Ok(true);
        }
        let others = [
            ".bz2", ".tbz", ".tbz2", ".tz2", ".xz", ".txz", ".zst", ".tzst", ".lz", ".lzma",
            ".tlz", ".lzo", ".Z", ".taZ",
        ];
        if others.iter().any(ends) {
            return Err(fatal(format!(
                "{}: cordon's tar writes gzip only (-z)",
                quote(name)
            )));
        }
        Ok(false)
    }

    fn write_failed(&self, err: &io::Error) -> Fatal {
        fatal(format!(
            "{}: Cannot write: {}",
            self.archive_shown(),
            describe(err)
        ))
    }

    /// Adds `path` (`shown` in messages and listings) as `member`, and
    /// what it holds if it is a directory, in name order.
    fn add(
        &mut self,
        out: &mut Blocks,
        path: &Path,
        shown: &[u8],
        member: &[u8],
        itself: Option<&Path>,
    ) -> Result<(), Fatal> {
        if self.excluded(member) {
            return Ok(());
        }
        let meta = match fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) => {
                self.error(format!("{}: Cannot stat: {}", quote(shown), describe(&e)));
                return Ok(());
            }
        };
        let kind = meta.file_type();
        // The archive itself is left out, silently as GNU does by default.
        if kind.is_file() && itself.is_some() && std::path::absolute(path).ok().as_deref() == itself
        {
            return Ok(());
        }
        // Without the host's answer: 0644 (0755 a directory), owner 0.
        let info = cordon_host_calls::file_info_of(path, false);
        let fallback_mode = if kind.is_dir() {
            0o755
        } else if kind.is_symlink() {
            0o777
        } else {
            0o644
        };
        let mut header = Header::new_gnu();
        header.set_mode(info.as_ref().map_or(fallback_mode, |i| i.mode & 0o7777));
        header.set_uid(info.as_ref().map_or(0, |i| u64::from(i.uid)));
        header.set_gid(info.as_ref().map_or(0, |i| u64::from(i.gid)));
        if let Some(info) = &info {
            // Names longer than the fields leave them empty: listed by id.
            let _ = header.set_username(&info.user);
            let _ = header.set_groupname(&info.group);
        }
        let mtime = meta
            .modified()
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| since.as_secs());
        header.set_mtime(mtime);
        if kind.is_dir() {
            header.set_entry_type(EntryType::Directory);
            header.set_size(0);
            self.put_member(
                out,
                &mut header,
                &with_slash(member),
                None,
                &with_slash(shown),
            )?;
            let mut children: Vec<OsString> = match fs::read_dir(path) {
                Ok(list) => list.filter_map(|e| e.ok().map(|e| e.file_name())).collect(),
                Err(e) => {
                    self.error(format!("{}: Cannot open: {}", quote(shown), describe(&e)));
                    return Ok(());
                }
            };
            children.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for child in children {
                let child_shown = join_name(shown, child.as_bytes());
                let child_member = join_name(member, child.as_bytes());
                self.add(out, &path.join(&child), &child_shown, &child_member, itself)?;
            }
        } else if kind.is_symlink() {
            let points_to = match fs::read_link(path) {
                Ok(points_to) => points_to,
                Err(e) => {
                    self.error(format!(
                        "{}: Cannot readlink: {}",
                        quote(shown),
                        describe(&e)
                    ));
                    return Ok(());
                }
            };
            header.set_entry_type(EntryType::Symlink);
            header.set_size(0);
            let points_to = points_to.as_os_str().as_bytes();
            self.put_member(out, &mut header, member, Some(points_to), shown)?;
        } else if kind.is_file() {
            // Another name of a file already archived: a hard link to it,
            // as GNU stores it.
            let inode = info
                .as_ref()
                .filter(|i| i.nlink > 1)
                .map(|i| (i.dev, i.ino));
            if let Some(first) = inode.and_then(|inode| self.linked.get(&inode)).cloned() {
                header.set_entry_type(EntryType::Link);
                header.set_size(0);
                return self.put_member(out, &mut header, member, Some(&first), shown);
            }
            let mut file = match fs::File::open(path) {
                Ok(file) => file,
                Err(e) => {
                    self.error(format!("{}: Cannot open: {}", quote(shown), describe(&e)));
                    return Ok(());
                }
            };
            if let Some(inode) = inode {
                self.linked.insert(inode, member.to_vec());
            }
            header.set_entry_type(EntryType::Regular);
            header.set_size(meta.len());
            self.put_member(out, &mut header, member, None, shown)?;
            self.put_contents(out, &mut file, meta.len(), shown)?;
        } else {
            eprintln!("tar: {}: Unknown file type; file ignored", quote(shown));
        }
        Ok(())
    }

    /// Writes a member's header (after GNU's long-name members if its
    /// name or link target does not fit), and lists it with `-v`.
    fn put_member(
        &mut self,
        out: &mut Blocks,
        header: &mut Header,
        name: &[u8],
        link: Option<&[u8]>,
        shown: &[u8],
    ) -> Result<(), Fatal> {
        write_header(out, header, name, link).map_err(|e| self.write_failed(&e))?;
        if self.opts.verbose > 0 {
            let size = header.entry_size().unwrap_or(0);
            let listed = Listed::of(header, size, self.opts.numeric_owner);
            let long = self.opts.verbose > 1;
            self.tell(long, &listed, shown, link);
        }
        Ok(())
    }

    /// Writes the `size` bytes the header promised: a file that shrank
    /// meanwhile is padded with zeros, as GNU does.
    fn put_contents(
        &mut self,
        out: &mut Blocks,
        file: &mut fs::File,
        size: u64,
        shown: &[u8],
    ) -> Result<(), Fatal> {
        let mut buf = vec![0u8; 1 << 16];
        let mut left = size;
        let mut reported = false;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = match file.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.error(format!(
                        "{}: Read error at byte {}, while reading {want} bytes: {}",
                        quote(shown),
                        size - left,
                        describe(&e)
                    ));
                    reported = true;
                    break;
                }
            };
            out.put(&buf[..n]).map_err(|e| self.write_failed(&e))?;
            left -= n as u64;
        }
        if left > 0 && !reported {
            self.error(format!(
                "{}: File shrank by {left} bytes; padding with zeros",
                quote(shown)
            ));
        }
        out.zeros(left)
            .and_then(|()| out.pad())
            .map_err(|e| self.write_failed(&e))
    }
}

type Member<'a> = tar::Entry<'a, Box<dyn Read>>;

/// An archive's data, and a flag set once that data has ended.
type Input = (Box<dyn Read>, Rc<Cell<bool>>);

/// What a long listing shows of a member besides its names.
struct Listed {
    typeflag: u8,
    mode: u32,
    user: String,
    group: String,
    /// The size, or a device's numbers.
    size: String,
    mtime: u64,
}

impl Listed {
    fn of(header: &Header, size: u64, numeric: bool) -> Listed {
        let typeflag = header.entry_type().as_byte();
        let device = |number: io::Result<Option<u32>>| number.ok().flatten().unwrap_or(0);
        let size = match typeflag {
            b'3' | b'4' => format!(
                "{},{}",
                device(header.device_major()),
                device(header.device_minor())
            ),
            // A sparse file's size is what it expands to.
            b'S' => header.size().unwrap_or(size).to_string(),
            _ => size.to_string(),
        };
        Listed {
            typeflag,
            mode: header.mode().unwrap_or(0),
            user: owner_name(header.username_bytes(), header.uid().unwrap_or(0), numeric),
            group: owner_name(header.groupname_bytes(), header.gid().unwrap_or(0), numeric),
            size,
            mtime: header.mtime().unwrap_or(0),
        }
    }
}

/// A user or group as GNU lists it: its name, or its id when the archive
/// has no name (or with `--numeric-owner`).
fn owner_name(name: Option<&[u8]>, id: u64, numeric: bool) -> String {
    match name {
        Some(name) if !name.is_empty() && !numeric => String::from_utf8_lossy(name).into_owned(),
        _ => id.to_string(),
    }
}

/// `-rw-r--r--` from a kind letter and permission bits.
fn mode_string(kind: char, mode: u32) -> String {
    let mut shown: Vec<char> = std::iter::once(kind)
        .chain("rwxrwxrwx".chars().enumerate().map(
            |(at, c)| {
                if mode & (0o400 >> at) != 0 { c } else { '-' }
            },
        ))
        .collect();
    for (bit, at, letter) in [(0o4000, 3, 's'), (0o2000, 6, 's'), (0o1000, 9, 't')] {
        if mode & bit != 0 {
            shown[at] = if shown[at] == 'x' {
                letter
            } else {
                letter.to_ascii_uppercase()
            };
        }
    }
    shown.into_iter().collect()
}

/// `YYYY-MM-DD HH:MM` in UTC: a WASI guest has no time zone.
fn format_time(secs: u64) -> String {
    let Ok(secs) = i64::try_from(secs) else {
        return secs.to_string();
    };
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// `name` as GNU's listings and messages show it (quotearg's escape
/// style): backslashes doubled, control characters as C escapes, and what
/// is not text in the locale (outside a UTF-8 one, any non-ASCII byte) in
/// octal.
fn quote(name: &[u8]) -> String {
    let utf8 = crate::rev::utf8_locale();
    let mut shown = String::with_capacity(name.len());
    let octal = |shown: &mut String, bytes: &[u8]| {
        for byte in bytes {
            let _ = write!(shown, "\\{byte:03o}");
        }
    };
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => shown.push_str("\\\\"),
                '\x07' => shown.push_str("\\a"),
                '\x08' => shown.push_str("\\b"),
                '\x0c' => shown.push_str("\\f"),
                '\n' => shown.push_str("\\n"),
                '\r' => shown.push_str("\\r"),
                '\t' => shown.push_str("\\t"),
                '\x0b' => shown.push_str("\\v"),
                c if c.is_control() || (!c.is_ascii() && !utf8) => {
                    octal(&mut shown, c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                c => shown.push(c),
            }
        }
        octal(&mut shown, chunk.invalid());
    }
    shown
}

/// `'name'`, as GNU's quote() gives a name inside a message.
fn quoted(name: &[u8]) -> String {
    format!("'{}'", quote(name))
}

/// Whether the locale says UTF-8 (a guest has the C locale otherwise).
fn os(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

/// `name` without trailing slashes (but `/` itself stays).
fn trim_slashes(name: &[u8]) -> &[u8] {
    let end = name
        .iter()
        .rposition(|&b| b != b'/')
        .map_or(name.len().min(1), |at| at + 1);
    &name[..end]
}

fn with_slash(name: &[u8]) -> Vec<u8> {
    let mut name = name.to_vec();
    if !name.ends_with(b"/") {
        name.push(b'/');
    }
    name
}

/// `dir/child` (no second slash if `dir` ends with one).
fn join_name(dir: &[u8], child: &[u8]) -> Vec<u8> {
    let mut name = with_slash(dir);
    name.extend_from_slice(child);
    name
}

fn has_dot_dot(name: &[u8]) -> bool {
    name.split(|&b| b == b'/').any(|part| part == b"..")
}

/// The names between slashes, without empty ones and `.`.
fn components(name: &[u8]) -> Vec<&[u8]> {
    name.split(|&b| b == b'/')
        .filter(|part| !part.is_empty() && *part != b".")
        .collect()
}

fn join(parts: &[&[u8]]) -> PathBuf {
    parts.iter().map(|part| os(part)).collect()
}

/// `name` without its first `count` components (GNU's
/// stripped_prefix_len); None if it has no more than that.
fn strip_components(name: &[u8], count: usize) -> Option<&[u8]> {
    if count == 0 {
        return Some(name);
    }
    let mut left = count;
    let mut at = 0;
    while at < name.len() && name[at] == b'/' {
        at += 1;
    }
    while at < name.len() {
        let slash = name[at] == b'/';
        at += 1;
        if slash {
            left -= 1;
            if left == 0 {
                return Some(&name[at..]);
            }
            while at < name.len() && name[at] == b'/' {
                at += 1;
            }
        }
    }
    None
}

/// Whether a name given on the command line selects `member`: the member
/// itself or one inside it.
fn member_matches(given: &[u8], member: &[u8]) -> bool {
    let member = trim_slashes(member);
    member == given || (member.starts_with(given) && member.get(given.len()) == Some(&b'/'))
}

/// Whether `text` matches the shell pattern `pattern` (`*`, `?`, `[...]`,
/// `\`), `*` matching `/` too, as in GNU's exclusions.
fn fnmatch(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // After the last `*`: where the pattern goes on, and from where in the
    // text it is tried again.
    let mut retry: Option<(usize, usize)> = None;
    while t < text.len() {
        let next = match pattern.get(p).copied() {
            Some(b'*') => {
                retry = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => match class(&pattern[p..], text[t]) {
                Some((true, len)) => Some(p + len),
                Some((false, _)) => None,
                None => (text[t] == b'[').then_some(p + 1),
            },
            Some(b'\\') if p + 1 < pattern.len() => (pattern[p + 1] == text[t]).then_some(p + 2),
            Some(c) => (c == text[t]).then_some(p + 1),
            None => None,
        };
        match (next, retry) {
            (Some(next), _) => {
                p = next;
                t += 1;
            }
            (None, Some((star, from))) => {
                p = star;
                t = from + 1;
                retry = Some((star, from + 1));
            }
            (None, None) => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// A `[...]` at the start of `pattern` against `c`: whether it matches,
/// and its length. None if it never closes (the `[` is then itself).
fn class(pattern: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut at = 1;
    let negated = matches!(pattern.get(at), Some(b'!' | b'^'));
    if negated {
        at += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let item = *pattern.get(at)?;
        if item == b']' && !first {
            return Some((matched != negated, at + 1));
        }
        first = false;
        let (low, after) = if item == b'\\' {
            (*pattern.get(at + 1)?, at + 2)
        } else {
            (item, at + 1)
        };
        match (pattern.get(after), pattern.get(after + 1)) {
            (Some(b'-'), Some(&high)) if high != b']' => {
                matched |= (low..=high).contains(&c);
                at = after + 2;
            }
            _ => {
                matched |= low == c;
                at = after;
            }
        }
    }
}

/// Makes the directories above the last of `parts` (relative to where tar
/// extracts). Each must be a real directory: a symlink there (the
/// archive's own or one already present) refuses the member rather than
/// lead it elsewhere. What failed, in GNU's words.
fn make_parents(parts: &[&[u8]]) -> Result<(), String> {
    let mut dir = PathBuf::new();
    for part in &parts[..parts.len() - 1] {
        dir.push(os(part));
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err("Cannot open: Not a directory".into()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&dir).map_err(|e| format!("Cannot mkdir: {}", describe(&e)))?;
            }
            Err(e) => return Err(format!("Cannot open: {}", describe(&e))),
        }
    }
    Ok(())
}

/// Checks that the directories above the last of `parts` are real
/// directories, as [`make_parents`] does, making none.
fn existing_parents(parts: &[&[u8]]) -> Result<(), String> {
    let mut dir = PathBuf::new();
    for part in parts.iter().take(parts.len().saturating_sub(1)) {
        dir.push(os(part));
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err("Not a directory".into()),
            Err(e) => return Err(describe(&e)),
        }
    }
    Ok(())
}

/// Whether a member of this type holds a file's contents.
fn is_file_data(typeflag: u8) -> bool {
    !matches!(typeflag, b'1'..=b'6' | b'D' | b'V' | b'M')
}

/// How many bytes reading `entry` gives (a sparse file expands).
fn data_size(entry: &Member<'_>) -> u64 {
    if entry.header().entry_type().is_gnu_sparse() {
        entry.header().size().unwrap_or(0)
    } else {
        entry.size()
    }
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Copies all of `from` to `to`, telling a failed read from a failed write.
fn copy_member(from: &mut impl Read, to: &mut impl Write) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        to.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
}

/// `-C`: later names are relative to `dir`.
fn enter(dir: &[u8]) -> Result<(), Fatal> {
    std::env::set_current_dir(os(dir))
        .map_err(|e| fatal(format!("{}: Cannot open: {}", quote(dir), describe(&e))))
}

fn symlink(points_to: &[u8], path: &Path) -> io::Result<()> {
    let points_to = CString::new(points_to)?;
    let path = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: both are NUL-terminated and live through the call.
    if unsafe { libc::symlink(points_to.as_ptr(), path.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the modification time of `path` itself: a symlink's own, never its
/// target's. A failure is not reported (GNU warns; the data is there).
fn set_mtime(path: &Path, mtime: u64) {
    let Ok(path) = CString::new(path.as_os_str().as_bytes()) else {
        return;
    };
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: i64::try_from(mtime).unwrap_or(i64::MAX),
            tv_nsec: 0,
        },
    ];
    // SAFETY: `path` is NUL-terminated, `times` holds two entries, and
    // both live through the call.
    unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            path.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
}

/// Whether `block` is a tar header: 512 bytes whose checksum adds up.
fn is_tar_header(block: &[u8]) -> bool {
    if block.len() < 512 {
        return false;
    }
    let sum: u32 = block[..148]
        .iter()
        .chain(&[b' '; 8])
        .chain(&block[156..512])
        .map(|&b| u32::from(b))
        .sum();
    Header::from_byte_slice(&block[..512])
        .cksum()
        .is_ok_and(|cksum| cksum == sum)
}

/// The compression an archive's first bytes show, if any.
fn compression(head: &[u8]) -> Option<&'static str> {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\x1f\x8b", "gzip"),
        (b"BZh", "bzip2"),
        (b"\xfd7zXZ\x00", "xz"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"\x1f\x9d", "compress"),
        (b"LZIP", "lzip"),
    ];
    if is_tar_header(head) {
        return None;
    }
    MAGIC
        .iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|&(_, name)| name)
}

/// A reader that notes when its data has ended, to tell a cut-off archive
/// from a damaged one.
struct Watched<R> {
    inner: R,
    ended: Rc<Cell<bool>>,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.ended.set(true);
        }
        Ok(n)
    }
}

/// A gzip'd archive's data, its errors marked as gzip's: GNU reports them
/// as its gzip child's.
struct Gunzip<R>(flate2::bufread::MultiGzDecoder<R>);

impl<R: BufRead> Read for Gunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), GzipError(Damage::of(&e).words())))
    }
}

#[derive(Debug)]
struct GzipError(&'static str);

impl Display for GzipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for GzipError {}

fn gzip_failure(err: &io::Error) -> Option<&'static str> {
    err.get_ref()?.downcast_ref::<GzipError>().map(|g| g.0)
}

/// What is wrong with compressed data.
#[derive(Clone, Copy)]
enum Damage {
    Truncated,
    Corrupt,
    Checksum,
}

impl Damage {
    fn of(err: &io::Error) -> Damage {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            Damage::Truncated
        } else if err.to_string().contains("checksum") {
            // flate2's words for a CRC or length that does not match.
            Damage::Checksum
        } else {
            Damage::Corrupt
        }
    }

    /// gzip's words for it.
    fn words(self) -> &'static str {
        match self {
            Damage::Truncated => "unexpected end of file",
            Damage::Corrupt => "invalid compressed data--format violated",
            Damage::Checksum => "invalid compressed data--crc error",
        }
    }
}

/// Where an archive is written: as is, or through gzip.
enum Sink {
    Plain(BufWriter<Box<dyn Write>>),
    Gzip(flate2::write::GzEncoder<BufWriter<Box<dyn Write>>>),
}

impl Sink {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(out) => out.write_all(bytes),
            Sink::Gzip(out) => out.write_all(bytes),
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Plain(mut out) => out.flush(),
            Sink::Gzip(out) => out.finish()?.flush(),
        }
    }
}

/// The archive being written, in 512-byte blocks.
struct Blocks {
    sink: Sink,
    written: u64,
}

impl Blocks {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sink.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn zeros(&mut self, mut count: u64) -> io::Result<()> {
        let block = [0u8; 512];
        while count > 0 {
            let n = count.min(512);
            self.put(&block[..n as usize])?;
            count -= n;
        }
        Ok(())
    }

    /// Fills the last block.
    fn pad(&mut self) -> io::Result<()> {
        self.zeros((512 - self.written % 512) % 512)
    }

    /// GNU's end: two zero blocks, the whole padded to a full record.
    fn finish(mut self) -> io::Result<()> {
        self.zeros(1024)?;
        self.zeros((RECORD - self.written % RECORD) % RECORD)?;
        self.sink.finish()
    }
}

/// Writes `header` with `name` and `link`: one that does not fit its
/// 100-byte field goes first into a GNU `././@LongLink` member (`K` for a
/// link target, `L` for a name), and the field keeps its first 100 bytes.
fn write_header(
    out: &mut Blocks,
    header: &mut Header,
    name: &[u8],
    link: Option<&[u8]>,
) -> io::Result<()> {
    if let Some(link) = link {
        if link.len() > 100 {
            write_long_name(out, b'K', link)?;
        }
        fill(&mut header.as_old_mut().linkname, link);
    }
    if name.len() > 100 {
        write_long_name(out, b'L', name)?;
    }
    fill(&mut header.as_old_mut().name, name);
    header.set_cksum();
    out.put(header.as_bytes())
}

fn write_long_name(out: &mut Blocks, kind: u8, text: &[u8]) -> io::Result<()> {
    let mut header = Header::new_gnu();
    fill(&mut header.as_old_mut().name, b"././@LongLink");
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(text.len() as u64 + 1);
    header.set_entry_type(EntryType::new(kind));
    header.set_cksum();
    out.put(header.as_bytes())?;
    out.put(text)?;
    out.put(&[0])?;
    out.pad()
}

/// Puts as much of `value` as fits into `field`, the rest NULs.
fn fill(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
    field[n..].fill(0);
}

// gzip, gunzip, zcat.

/// gzip's long options and the short ones they stand for.
const GZIP_LONG: &[(&str, u8)] = &[
    ("ascii", b'a'),
    ("best", b'9'),
    ("decompress", b'd'),
    ("fast", b'1'),
    ("force", b'f'),
    ("help", b'h'),
    ("keep", b'k'),
    ("license", b'L'),
    ("list", b'l'),
    ("name", b'N'),
    ("no-name", b'n'),
    ("quiet", b'q'),
    ("recursive", b'r'),
    ("rsyncable", b'R'),
    ("silent", b'q'),
    ("stdout", b'c'),
    ("suffix", b'S'),
    ("synchronous", b'Y'),
    ("test", b't'),
    ("to-stdout", b'c'),
    ("uncompress", b'd'),
    ("verbose", b'v'),
    ("version", b'V'),
];

const GZIP_SHORT: &[u8] = b"acdfhklLnNqrStvV123456789";

const GZIP_HELP: &str = "\
Usage: gzip [OPTION]... [FILE]...
cordon's built-in gzip: compress or uncompress FILEs (by default, in-place).

  -c, --stdout      write on standard output, keep original files unchanged
  -d, --decompress  decompress
  -f, --force       force overwrite of output file and compress links
  -k, --keep        keep (don't delete) input files
  -n, --no-name     do not save or restore the original name and timestamp
  -N, --name        save or restore the original name and timestamp
  -q, --quiet       suppress all warnings
  -r, --recursive   operate recursively on directories
  -S, --suffix=SUF  use suffix SUF on compressed files
  -t, --test        test compressed file integrity
  -v, --verbose     verbose mode
  -1, --fast        compress faster
  -9, --best        compress better

With no FILE, or when FILE is -, read standard input.
";

/// Why gzip's option parsing stopped short of running.
enum GzipEarly {
    Usage(String),
    Refused(String),
    Help,
    Version,
}

/// One gzip run: its settings, and how it went.
struct Gzip {
    decompress: bool,
    to_stdout: bool,
    force: bool,
    keep: bool,
    quiet: bool,
    verbose: bool,
    test: bool,
    recursive: bool,
    /// -N/-n: save the name and time (compressing), restore the time
    /// (decompressing). Unset: saved, not restored.
    name: Option<bool>,
    level: u32,
    suffix: Vec<u8>,
    /// GNU's exit status: 1 after an error, else 2 after a warning.
    code: i32,
    /// Damaged data ended the run, as GNU's does (files left undone).
    stopped: bool,
}

pub fn gzip_main(args: Vec<OsString>) -> i32 {
    gzip_run(args, false, false)
}

pub fn gunzip_main(args: Vec<OsString>) -> i32 {
    gzip_run(args, true, false)
}

pub fn zcat_main(args: Vec<OsString>) -> i32 {
    gzip_run(args, true, true)
}

fn gzip_run(args: Vec<OsString>, decompress: bool, to_stdout: bool) -> i32 {
    let mut gzip = Gzip {
        decompress,
        to_stdout,
        force: false,
        keep: false,
        quiet: false,
        verbose: false,
        test: false,
        recursive: false,
        name: None,
        level: 6,
        suffix: b".gz".to_vec(),
        code: 0,
        stopped: false,
    };
    let files = match gzip.parse(args) {
        Ok(files) => files,
        Err(GzipEarly::Usage(message)) => {
            eprintln!("gzip: {message}");
            eprintln!("Try `gzip --help' for more information.");
            return 1;
        }
        Err(GzipEarly::Refused(message)) => {
            eprintln!("gzip: {message}");
            return 1;
        }
        Err(GzipEarly::Help) => {
            let _ = io::stdout().lock().write_all(GZIP_HELP.as_bytes());
            return 0;
        }
        Err(GzipEarly::Version) => {
            let _ = writeln!(
                io::stdout().lock(),
                "gzip (cordon's built-in gzip): GNU gzip 1.12's options"
            );
            return 0;
        }
    };
    if files.is_empty() {
        gzip.standard();
    }
    for file in &files {
        if gzip.stopped {
            break;
        }
        if file == b"-" {
            gzip.standard();
        } else {
            gzip.file(file);
        }
    }
    gzip.code
}

impl Gzip {
    /// Takes the options; the files named, in order.
    fn parse(&mut self, args: Vec<OsString>) -> Result<Vec<Vec<u8>>, GzipEarly> {
        let args: Vec<Vec<u8>> = args
            .iter()
            .skip(1)
            .map(|arg| arg.as_bytes().to_vec())
            .collect();
        let mut files = Vec::new();
        let mut i = 0;
        let mut only_files = false;
        while i < args.len() {
            let arg = &args[i];
            i += 1;
            if only_files || arg.len() < 2 || arg[0] != b'-' {
                files.push(arg.clone());
            } else if arg == b"--" {
                only_files = true;
            } else if let Some(long) = arg.strip_prefix(b"--") {
                let (name, inline) = split_value(long);
                let shown = String::from_utf8_lossy(arg).into_owned();
                let (name, short) = resolve_long(GZIP_LONG, &String::from_utf8_lossy(name), &shown)
                    .map_err(GzipEarly::Usage)?;
                let value = match (short == b'S', inline) {
                    (true, Some(value)) => Some(value),
                    (true, None) if i < args.len() => {
                        i += 1;
                        Some(args[i - 1].clone())
                    }
                    (true, None) => {
                        return Err(GzipEarly::Usage(format!(
                            "option '--{name}' requires an argument"
                        )));
                    }
                    (false, Some(_)) => {
                        return Err(GzipEarly::Usage(format!(
                            "option '--{name}' doesn't allow an argument"
                        )));
                    }
                    (false, None) => None,
                };
                self.apply(short, value)?;
            } else {
                let mut k = 1;
                while k < arg.len() {
                    let letter = arg[k];
                    k += 1;
                    if !GZIP_SHORT.contains(&letter) {
                        return Err(GzipEarly::Usage(format!(
                            "invalid option -- '{}'",
                            char::from(letter)
                        )));
                    }
                    let mut value = None;
                    if letter == b'S' {
                        if k < arg.len() {
                            value = Some(arg[k..].to_vec());
                            k = arg.len();
                        } else if i < args.len() {
                            value = Some(args[i].clone());
                            i += 1;
                        } else {
                            return Err(GzipEarly::Usage(
                                "option requires an argument -- 'S'".into(),
                            ));
                        }
                    }
                    self.apply(letter, value)?;
                }
            }
        }
        Ok(files)
    }

    fn apply(&mut self, option: u8, value: Option<Vec<u8>>) -> Result<(), GzipEarly> {
        match option {
            b'c' => self.to_stdout = true,
            b'd' => self.decompress = true,
            b'f' => self.force = true,
            b'k' => self.keep = true,
            b'n' => self.name = Some(false),
            b'N' => self.name = Some(true),
            b'q' => {
                self.quiet = true;
                self.verbose = false;
            }
            b'v' => {
                self.verbose = true;
                self.quiet = false;
            }
            b'r' => self.recursive = true,
            b't' => {
                self.test = true;
                self.decompress = true;
            }
            b'S' => {
                let suffix = value.unwrap_or_default();
                if suffix.is_empty() {
                    return Err(GzipEarly::Refused("invalid suffix ''".into()));
                }
                self.suffix = suffix;
            }
            b'1'..=b'9' => self.level = u32::from(option - b'0'),
            b'h' => return Err(GzipEarly::Help),
            b'V' | b'L' => return Err(GzipEarly::Version),
            b'l' => {
                return Err(GzipEarly::Refused(
                    "--list is not available in cordon's gzip".into(),
                ));
            }
            // --ascii, --rsyncable, --synchronous: nothing to change here.
            _ => {}
        }
        Ok(())
    }

    fn error(&mut self, message: impl Display) {
        eprintln!("gzip: {message}");
        self.code = 1;
    }

    fn warn(&mut self, message: impl Display) {
        if !self.quiet {
            eprintln!("gzip: {message}");
        }
        if self.code == 0 {
            self.code = 2;
        }
    }

    /// Data after the last member: a warning, after an empty line as GNU's.
    fn garbage(&mut self, shown: &str) {
        if !self.quiet {
            eprintln!();
        }
        self.warn(format!(
            "{shown}: decompression OK, trailing garbage ignored"
        ));
    }

    /// Compressed data that could not be read, or written, in GNU's words
    /// (a damaged stream's message follows an empty line, as GNU's does).
    fn failed(&mut self, shown: &str, out: &str, failure: Failure) {
        match failure {
            Failure::Input(why) if self.decompress => {
                eprintln!("\ngzip: {shown}: {why}");
                self.code = 1;
            }
            Failure::Damaged(damage) => {
                eprintln!("\ngzip: {shown}: {}", damage.words());
                self.code = 1;
                // GNU gives up on the files still to do.
                self.stopped = true;
            }
            Failure::Input(why) => self.error(format!("{shown}: {why}")),
            Failure::Output(e) => self.error(format!("{out}: {}", describe(&e))),
        }
    }

    /// Standard input to standard output.
    fn standard(&mut self) {
        if !self.force {
            if self.decompress && io::stdin().is_terminal() {
                eprintln!(
                    "gzip: compressed data not read from a terminal. Use -f to force decompression."
                );
                eprintln!("For help, type: gzip -h");
                self.code = 1;
                return;
            }
            if !self.decompress && io::stdout().is_terminal() {
                eprintln!(
                    "gzip: compressed data not written to a terminal. Use -f to force compression."
                );
                eprintln!("For help, type: gzip -h");
                self.code = 1;
                return;
            }
        }
        let input = io::stdin().lock();
        let mut out = io::stdout().lock();
        let result = if self.test {
            unpack(input, &mut io::sink())
        } else if self.decompress {
            unpack(input, &mut out)
        } else {
            pack(input, &mut out, self.level, None, 0)
        };
        let result = result.and_then(|stats| out.flush().map(|()| stats).map_err(Failure::Output));
        match result {
            Ok(stats) => {
                if stats.garbage {
                    self.garbage("stdin");
                }
                if self.verbose && self.test {
                    eprintln!(" OK");
                } else if self.verbose && !self.decompress {
                    eprintln!("{}", stats.ratio());
                }
            }
            Err(failure) => self.failed("stdin", "stdout", failure),
        }
    }

    /// The file `given` names, or (decompressing) the first of `given.gz`
    /// and the like that exists.
    fn find(&self, given: &[u8]) -> Result<(Vec<u8>, fs::Metadata), String> {
        let shown = String::from_utf8_lossy(given);
        match fs::symlink_metadata(os(given)) {
            Ok(meta) => Ok((given.to_vec(), meta)),
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.decompress => {
                let tried: [&[u8]; 4] = [self.suffix.as_slice(), b".gz", b".z", b"-z"];
                for suffix in tried {
                    let candidate = [given, suffix].concat();
                    if let Ok(meta) = fs::symlink_metadata(os(&candidate)) {
                        return Ok((candidate, meta));
                    }
                }
                Err(format!(
                    "{shown}{}: {}",
                    String::from_utf8_lossy(&self.suffix),
                    describe(&e)
                ))
            }
            Err(e) => Err(format!("{shown}: {}", describe(&e))),
        }
    }

    /// The name `path` decompresses to and the suffix it loses (`.tgz`
    /// and `.taz` become `.tar`); None without a known suffix.
    fn unpacked_name(&self, path: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let base = path.iter().rposition(|&b| b == b'/').map_or(0, |at| at + 1);
        let known: [&[u8]; 8] = [
            self.suffix.as_slice(),
            b".gz",
            b".z",
            b".taz",
            b".tgz",
            b"-gz",
            b"-z",
            b"_z",
        ];
        let suffix = known
            .into_iter()
            .find(|suffix| path.len() > base + suffix.len() && path.ends_with(suffix))?;
        let stem = &path[..path.len() - suffix.len()];
        let name = if suffix == b".tgz" || suffix == b".taz" {
            [stem, &b".tar"[..]].concat()
        } else {
            stem.to_vec()
        };
        Some((name, suffix.to_vec()))
    }

    /// Compresses or decompresses one file.
    fn file(&mut self, given: &[u8]) {
        let (path, meta) = match self.find(given) {
            Ok(found) => found,
            Err(message) => return self.error(message),
        };
        let shown = String::from_utf8_lossy(&path).into_owned();
        if meta.is_dir() {
            return self.directory(&path, &shown);
        }
        if meta.file_type().is_symlink() && !self.force && !self.to_stdout {
            return self.error(format!("{shown}: Too many levels of symbolic links"));
        }
        let meta = match fs::metadata(os(&path)) {
            Ok(meta) => meta,
            Err(e) => return self.error(format!("{shown}: {}", describe(&e))),
        };
        if meta.is_dir() {
            return self.directory(&path, &shown);
        }
        if !meta.is_file() {
            return self.warn(format!(
                "{shown} is not a directory or a regular file - ignored"
            ));
        }
        let out_name = if self.to_stdout || self.test {
            None
        } else if self.decompress {
            match self.unpacked_name(&path) {
                Some((name, _)) => Some(name),
                None => return self.warn(format!("{shown}: unknown suffix -- ignored")),
            }
        } else {
            if let Some((_, suffix)) = self.unpacked_name(&path).filter(|_| !self.force) {
                // Said, but (as GNU's) not a warning: the exit status stays.
                if !self.quiet {
                    eprintln!(
                        "gzip: {shown} already has {} suffix -- unchanged",
                        String::from_utf8_lossy(&suffix)
                    );
                }
                return;
            }
            Some([path.as_slice(), self.suffix.as_slice()].concat())
        };
        let input = match fs::File::open(os(&path)) {
            Ok(input) => input,
            Err(e) => return self.error(format!("{shown}: {}", describe(&e))),
        };
        let mtime = meta.modified().ok();
        // What compressing saves in the header: the name without its
        // directory, and the time.
        let save = self.name.unwrap_or(true);
        let base = &path[path.iter().rposition(|&b| b == b'/').map_or(0, |at| at + 1)..];
        let saved_name = save.then_some(base);
        let saved_time = mtime
            .filter(|_| save)
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .and_then(|since| u32::try_from(since.as_secs()).ok())
            .unwrap_or(0);
        let Some(out_name) = out_name else {
            let mut out = io::stdout().lock();
            let result = if self.test {
                unpack(input, &mut io::sink())
            } else if self.decompress {
                unpack(input, &mut out)
            } else {
                pack(input, &mut out, self.level, saved_name, saved_time)
            };
            let result =
                result.and_then(|stats| out.flush().map(|()| stats).map_err(Failure::Output));
            return self.done(&shown, "stdout", None, result);
        };
        let out_shown = String::from_utf8_lossy(&out_name).into_owned();
        if fs::symlink_metadata(os(&out_name)).is_ok() {
            if !self.may_replace(&out_shown) {
                return;
            }
            if let Err(e) = fs::remove_file(os(&out_name)) {
                return self.error(format!("{out_shown}: {}", describe(&e)));
            }
        }
        let created = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(os(&out_name));
        let mut writer = match created {
            Ok(file) => BufWriter::with_capacity(1 << 16, file),
            Err(e) => return self.error(format!("{out_shown}: {}", describe(&e))),
        };
        let result = if self.decompress {
            unpack(input, &mut writer)
        } else {
            pack(input, &mut writer, self.level, saved_name, saved_time)
        };
        let result =
            result.and_then(|stats| writer.flush().map(|()| stats).map_err(Failure::Output));
        match &result {
            Ok(stats) => {
                // Compressing keeps the original's time; decompressing
                // takes the compressed file's, or with -N the saved one.
                let time = if self.decompress && self.name == Some(true) && stats.mtime != 0 {
                    UNIX_EPOCH.checked_add(Duration::from_secs(stats.mtime.into()))
                } else {
                    mtime
                };
                if let (Some(time), Ok(file)) = (time, writer.into_inner()) {
                    let _ = file.set_modified(time);
                }
                if !self.keep
                    && let Err(e) = fs::remove_file(os(&path))
                {
                    self.error(format!("{shown}: {}", describe(&e)));
                }
            }
            Err(_) => {
                drop(writer);
                let _ = fs::remove_file(os(&out_name));
            }
        }
        self.done(&shown, &out_shown, Some(&out_shown), result);
    }

    /// Reports how a file went: its failure, the trailing garbage warning,
    /// or with -v its ratio and where it went.
    fn done(
        &mut self,
        shown: &str,
        out_shown: &str,
        replaced_by: Option<&str>,
        result: Result<Stats, Failure>,
    ) {
        let stats = match result {
            Ok(stats) => stats,
            Err(failure) => return self.failed(shown, out_shown, failure),
        };
        if stats.garbage {
            self.garbage(shown);
        }
        if !self.verbose {
            return;
        }
        if self.test {
            eprintln!("{shown}:\t OK");
            return;
        }
        let verb = if self.keep {
            "created"
        } else {
            "replaced with"
        };
        let whither = replaced_by.unwrap_or("stdout");
        eprintln!("{shown}:\t{} -- {verb} {whither}", stats.ratio());
    }

    fn directory(&mut self, path: &[u8], shown: &str) {
        if !self.recursive {
            return self.warn(format!("{shown} is a directory -- ignored"));
        }
        let mut children: Vec<OsString> = match fs::read_dir(os(path)) {
            Ok(list) => list.filter_map(|e| e.ok().map(|e| e.file_name())).collect(),
            Err(e) => return self.error(format!("{shown}: {}", describe(&e))),
        };
        children.sort();
        for child in children {
            self.file(&join_name(path, child.as_bytes()));
        }
    }

    /// Whether an existing `out` may be replaced: with -f, or when the user
    /// says so at a terminal; otherwise GNU's refusal, a warning.
    fn may_replace(&mut self, out: &str) -> bool {
        if self.force {
            return true;
        }
        if !self.quiet && io::stdin().is_terminal() {
            eprint!("gzip: {out} already exists; do you wish to overwrite (y or n)? ");
            let mut answer = String::new();
            let _ = io::stdin().read_line(&mut answer);
            if answer.trim_start().starts_with(['y', 'Y']) {
                return true;
            }
            eprintln!("\tnot overwritten");
        } else {
            eprintln!("gzip: {out} already exists;\tnot overwritten");
        }
        if self.code == 0 {
            self.code = 2;
        }
        false
    }
}

/// What went wrong with a stream: its input (GNU's words for it), its
/// compressed data, or its output.
enum Failure {
    Input(String),
    Damaged(Damage),
    Output(io::Error),
}

/// What a stream came to.
struct Stats {
    /// Bytes uncompressed.
    original: u64,
    /// Bytes compressed, headers and trailers included.
    packed: u64,
    /// Bytes of headers and trailers.
    header: u64,
    /// Decompressing: something other than zeros followed the last member.
    garbage: bool,
    /// Decompressing: the time the first member's header saved.
    mtime: u32,
}

impl Stats {
    /// GNU's ratio: the share of the original that compression saved.
    fn ratio(&self) -> String {
        let saved = self.original as f64 - (self.packed as f64 - self.header as f64);
        let percent = if self.original == 0 {
            0.0
        } else {
            100.0 * saved / self.original as f64
        };
        format!("{percent:5.1}%")
    }
}

/// Counts the bytes that pass.
struct Counted<T> {
    inner: T,
    count: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Compresses `input` into `out` as one gzip member, with `name` and
/// `mtime` in its header.
fn pack(
    mut input: impl Read,
    out: &mut impl Write,
    level: u32,
    name: Option<&[u8]>,
    mtime: u32,
) -> Result<Stats, Failure> {
    let mut builder = GzBuilder::new().operating_system(3).mtime(mtime);
    if let Some(name) = name {
        builder = builder.filename(name);
    }
    let counted = Counted {
        inner: out,
        count: 0,
    };
    let mut encoder = builder.write(counted, Compression::new(level));
    let mut buf = vec![0u8; 1 << 16];
    let mut original = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Input(describe(&e))),
        };
        encoder.write_all(&buf[..n]).map_err(Failure::Output)?;
        original += n as u64;
    }
    let counted = encoder.finish().map_err(Failure::Output)?;
    Ok(Stats {
        original,
        packed: counted.count,
        header: 10 + name.map_or(0, |name| name.len() as u64 + 1) + 8,
        garbage: false,
        mtime: 0,
    })
}

/// Decompresses every gzip member of `input` into `out`. Zeros after the
/// last member are ignored; anything else there is reported as garbage.
fn unpack(input: impl Read, out: &mut impl Write) -> Result<Stats, Failure> {
    let mut input = BufReader::with_capacity(
        1 << 16,
        Counted {
            inner: input,
            count: 0,
        },
    );
    let mut stats = Stats {
        original: 0,
        packed: 0,
        header: 0,
        garbage: false,
        mtime: 0,
    };
    let mut buf = vec![0u8; 1 << 16];
    let mut first = true;
    loop {
        let head = input.fill_buf().map_err(|e| Failure::Input(describe(&e)))?;
        if head.is_empty() {
            if first {
                return Err(Failure::Damaged(Damage::Truncated));
            }
            break;
        }
        if !head.starts_with(b"\x1f\x8b") {
            if first {
                return Err(Failure::Input("not in gzip format".into()));
            }
            stats.garbage = !rest_is_zeros(&mut input)?;
            break;
        }
        let mut member = flate2::bufread::GzDecoder::new(&mut input);
        loop {
            let n = match member.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Failure::Damaged(Damage::of(&e))),
            };
            out.write_all(&buf[..n]).map_err(Failure::Output)?;
            stats.original += n as u64;
        }
        if let Some(header) = member.header() {
            let field =
                |bytes: Option<&[u8]>, extra: u64| bytes.map_or(0, |b| b.len() as u64 + extra);
            stats.header += 18
                + field(header.filename(), 1)
                + field(header.comment(), 1)
                + field(header.extra(), 2);
            if first {
                stats.mtime = header.mtime();
            }
        }
        first = false;
    }
    stats.packed = input.get_ref().count - input.buffer().len() as u64;
    Ok(stats)
}

/// Reads what is left, saying whether it is all zeros.
fn rest_is_zeros(input: &mut impl BufRead) -> Result<bool, Failure> {
    loop {
        let chunk = input.fill_buf().map_err(|e| Failure::Input(describe(&e)))?;
        if chunk.is_empty() {
            return Ok(true);
        }
        if chunk.iter().any(|&b| b != 0) {
            return Ok(false);
        }
        let len = chunk.len();
        input.consume(len);
    }
}
