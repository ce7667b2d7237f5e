//! `grep` over ripgrep's search crates (grep-regex, grep-searcher) with
//! walkdir and globset, behaving like GNU grep for the common flags:
//! -r -R -n -i -v -l -L -c -w -x -E -F -G -e -f -o -H -h -q -s -A -B -C
//! --include --exclude --exclude-dir. Exit 0 when a line was selected,
//! 1 when none was, 2 on trouble (unless -q found a match). Binary files
//! (with a NUL byte) report `grep: FILE: binary file matches` on stderr,
//! as GNU grep 3.5 and later do.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::Path;

use crate::io_error::describe;
use globset::{Glob, GlobMatcher};
use grep_matcher::Matcher;
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{
    BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkContextKind, SinkMatch,
};

#[derive(Default)]
struct Options {
    patterns: Vec<String>,
    /// Patterns came from -e or -f, so the first operand is a file.
    explicit_patterns: bool,
    syntax: Syntax,
    ignore_case: bool,
    invert: bool,
    word: bool,
    line: bool,
    count: bool,
    files_with_matches: bool,
    files_without_match: bool,
    only_matching: bool,
    quiet: bool,
    no_messages: bool,
    line_number: bool,
    with_filename: Option<bool>,
    recursive: Option<Follow>,
    before: usize,
    after: usize,
    include: Vec<GlobMatcher>,
    exclude: Vec<GlobMatcher>,
    exclude_dir: Vec<GlobMatcher>,
    files: Vec<OsString>,
}

#[derive(Default, Clone, Copy, PartialEq)]
enum Syntax {
    #[default]
    Basic,
    Extended,
    Fixed,
}

#[derive(Clone, Copy, PartialEq)]
enum Follow {
    /// -r: follow symlinks named on the command line only.
    CommandLine,
    /// -R: follow all symlinks.
    All,
}

/// What went wrong while parsing arguments: message, exit code 2.
struct Usage(String);

pub fn main(args: Vec<OsString>) -> i32 {
    let opts = match parse(args) {
        Ok(opts) => opts,
        Err(Usage(message)) => {
            eprintln!("grep: {message}");
            eprintln!("Usage: grep [OPTION]... PATTERNS [FILE]...");
            return 2;
        }
    };
    let matcher = match build_matcher(&opts) {
        Ok(matcher) => matcher,
        Err(err) => {
            eprintln!("grep: {err}");
            return 2;
        }
    };
    let mut grep = Grep {
        searcher: SearcherBuilder::new()
            .line_number(opts.line_number)
            .invert_match(opts.invert)
            .before_context(opts.before)
            .after_context(opts.after)
            .binary_detection(BinaryDetection::convert(b'\0'))
            .build(),
        out: io::BufWriter::new(io::stdout().lock()),
        matched: false,
        trouble: false,
        opts: &opts,
        matcher: &matcher,
        multiple: false,
        implicit_dot: false,
    };
    let files: Vec<OsString> = match (&opts.files[..], opts.recursive) {
        // GNU searches the working directory and names files without "./".
        ([], Some(_)) => {
            grep.implicit_dot = true;
            vec![".".into()]
        }
        ([], None) => vec!["-".into()],
        (files, _) => files.to_vec(),
    };
    grep.multiple = opts
        .with_filename
        .unwrap_or(files.len() > 1 || opts.recursive.is_some());
    for file in &files {
        if grep.matched && opts.quiet {
            break;
        }
        grep.search_operand(file);
    }
    let _ = grep.out.flush();
    match (grep.matched, grep.trouble) {
        (true, _) if opts.quiet => 0,
        (_, true) => 2,
        (true, false) => 0,
        (false, false) => 1,
    }
}

/// Short flags and the long options they stand for.
const SHORT: &[(char, &str)] = &[
    ('e', "regexp"),
    ('f', "file"),
    ('A', "after-context"),
    ('B', "before-context"),
    ('C', "context"),
    ('E', "extended-regexp"),
    ('F', "fixed-strings"),
    ('G', "basic-regexp"),
    ('i', "ignore-case"),
    ('y', "ignore-case"),
    ('v', "invert-match"),
    ('w', "word-regexp"),
    ('x', "line-regexp"),
    ('c', "count"),
    ('l', "files-with-matches"),
    ('L', "files-without-match"),
    ('o', "only-matching"),
    ('q', "quiet"),
    ('s', "no-messages"),
    ('n', "line-number"),
    ('H', "with-filename"),
    ('h', "no-filename"),
    ('r', "recursive"),
    ('R', "dereference-recursive"),
];

/// Long options that take a value.
const WITH_VALUE: &[&str] = &[
    "regexp",
    "file",
    "include",
    "exclude",
    "exclude-dir",
    "context",
    "before-context",
    "after-context",
];

impl Options {
    /// Applies the long option `name`, with `value` when it takes one.
    /// Returns false when there is no such option.
    fn set(&mut self, name: &str, value: String) -> Result<bool, Usage> {
        let glob = |text: &str| {
            Glob::new(text)
                .map(|g| g.compile_matcher())
                .map_err(|e| Usage(format!("invalid glob {text}: {e}")))
        };
        let number = |text: &str| {
            text.parse::<usize>()
                .map_err(|_| Usage(format!("{text}: invalid context length argument")))
        };
        match name {
            "regexp" => {
                self.patterns.push(value);
                self.explicit_patterns = true;
            }
            "file" => {
                read_patterns(&value, &mut self.patterns)?;
                self.explicit_patterns = true;
            }
            "include" => self.include.push(glob(&value)?),
            "exclude" => self.exclude.push(glob(&value)?),
            "exclude-dir" => self.exclude_dir.push(glob(&value)?),
            "context" => {
                let n = number(&value)?;
                (self.before, self.after) = (n, n);
            }
            "before-context" => self.before = number(&value)?,
            "after-context" => self.after = number(&value)?,
            "extended-regexp" => self.syntax = Syntax::Extended,
            "fixed-strings" => self.syntax = Syntax::Fixed,
            "basic-regexp" => self.syntax = Syntax::Basic,
            "ignore-case" => self.ignore_case = true,
            "no-ignore-case" => self.ignore_case = false,
            "invert-match" => self.invert = true,
            "word-regexp" => self.word = true,
            "line-regexp" => self.line = true,
            "count" => self.count = true,
            "files-with-matches" => self.files_with_matches = true,
            "files-without-match" => self.files_without_match = true,
            "only-matching" => self.only_matching = true,
            "quiet" | "silent" => self.quiet = true,
            "no-messages" => self.no_messages = true,
            "line-number" => self.line_number = true,
            "with-filename" => self.with_filename = Some(true),
            "no-filename" => self.with_filename = Some(false),
            "recursive" => self.recursive = Some(Follow::CommandLine),
            "dereference-recursive" => self.recursive = Some(Follow::All),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn parse(args: Vec<OsString>) -> Result<Options, Usage> {
    let mut opts = Options::default();
    let mut args = args
        .into_iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    let mut positional = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--" {
            positional.extend(args.by_ref());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let value = if WITH_VALUE.contains(&name) {
                inline
                    .or_else(|| args.next())
                    .ok_or_else(|| Usage(format!("option '--{name}' requires an argument")))?
            } else {
                String::new()
            };
            if !opts.set(name, value)? {
                return Err(Usage(format!("unrecognized option '--{name}'")));
            }
            continue;
        }
        let Some(shorts) = arg.strip_prefix('-').filter(|s| !s.is_empty()) else {
            positional.push(arg);
            continue;
        };
        for (i, flag) in shorts.char_indices() {
            let Some(&(_, name)) = SHORT.iter().find(|(short, _)| *short == flag) else {
                return Err(Usage(format!("invalid option -- '{flag}'")));
            };
            if !WITH_VALUE.contains(&name) {
                opts.set(name, String::new())?;
                continue;
            }
            // The value is the rest of this argument, or the next one.
            let rest = &shorts[i + flag.len_utf8()..];
            let value = if rest.is_empty() {
                args.next()
                    .ok_or_else(|| Usage(format!("option requires an argument -- '{flag}'")))?
            } else {
                rest.to_string()
            };
            opts.set(name, value)?;
            break;
        }
    }
    let mut positional = positional.into_iter();
    if !opts.explicit_patterns {
        let pattern = positional
            .next()
            .ok_or_else(|| Usage("no pattern given".into()))?;
        opts.patterns
            .extend(pattern.split('\n').map(str::to_string));
    }
    opts.files = positional.map(OsString::from).collect();
    Ok(opts)
}

fn read_patterns(path: &str, patterns: &mut Vec<String>) -> Result<(), Usage> {
    let text = if path == "-" {
        io::read_to_string(io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| Usage(format!("{path}: {e}")))?;
    patterns.extend(text.lines().map(str::to_string));
    Ok(())
}

fn build_matcher(opts: &Options) -> Result<RegexMatcher, grep_regex::Error> {
    let patterns: Vec<String> = opts
        .patterns
        .iter()
        .map(|p| match opts.syntax {
            Syntax::Fixed => regex_escape(p),
            Syntax::Extended => p.clone(),
            Syntax::Basic => basic_to_extended(p),
        })
        .collect();
    RegexMatcherBuilder::new()
        .case_insensitive(opts.ignore_case)
        .word(opts.word)
        .whole_line(opts.line)
        .line_terminator(Some(b'\n'))
        .build_many(&patterns)
}

fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// GNU basic regular expressions: `\( \) \{ \} \| \+ \?` are operators and
/// their unescaped forms are literals; the reverse of extended syntax.
fn basic_to_extended(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        if in_class {
            out.push(c);
            if c == ']' {
                in_class = false;
            }
            continue;
        }
        match c {
            '\\' => match chars.next() {
                Some(op @ ('(' | ')' | '{' | '}' | '|' | '+' | '?')) => out.push(op),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push_str("\\\\"),
            },
            '(' | ')' | '{' | '}' | '|' | '+' | '?' => {
                out.push('\\');
                out.push(c);
            }
            '[' => {
                in_class = true;
                out.push(c);
                // A `]` right after `[` or `[^` is a literal member.
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap_or('^'));
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            // A leading `*` is literal in BRE.
            '*' if out.is_empty() => out.push_str("\\*"),
            _ => out.push(c),
        }
    }
    out
}

struct Grep<'a> {
    searcher: Searcher,
    out: io::BufWriter<io::StdoutLock<'static>>,
    matched: bool,
    trouble: bool,
    opts: &'a Options,
    matcher: &'a RegexMatcher,
    multiple: bool,
    /// Searching "." because no file was named.
    implicit_dot: bool,
}

impl Grep<'_> {
    fn warn(&mut self, message: impl std::fmt::Display) {
        self.trouble = true;
        if !self.opts.no_messages {
            let _ = self.out.flush();
            eprintln!("grep: {message}");
        }
    }

    fn search_operand(&mut self, operand: &OsString) {
        if operand == "-" {
            self.search_reader(Path::new("(standard input)"), None);
            return;
        }
        let path = Path::new(operand);
        let Some(follow) = self.opts.recursive else {
            if path.is_dir() {
                self.warn(format_args!("{}: Is a directory", path.display()));
            } else {
                self.search_file(path, path);
            }
            return;
        };
        // Name order, not directory order: the same output on every
        // filesystem and OS (GNU grep lists in directory order).
        let walker = walkdir::WalkDir::new(path)
            .follow_links(follow == Follow::All)
            .follow_root_links(true)
            .sort_by_file_name();
        let mut walker = walker.into_iter();
        while let Some(entry) = walker.next() {
            if self.matched && self.opts.quiet {
                return;
            }
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    let shown = err.path().unwrap_or(path).display().to_string();
                    let reason = err.io_error().map_or(err.to_string(), describe);
                    self.warn(format_args!("{shown}: {reason}"));
                    continue;
                }
            };
            let name = entry.file_name();
            if entry.file_type().is_dir() {
                if entry.depth() > 0 && self.opts.exclude_dir.iter().any(|g| g.is_match(name)) {
                    walker.skip_current_dir();
                }
                continue;
            }
            if entry.path_is_symlink() && follow == Follow::CommandLine && entry.depth() > 0 {
                continue;
            }
            if !self.selected(name, entry.depth() == 0) {
                continue;
            }
            let path = entry.path();
            let shown = match path.strip_prefix("./") {
                Ok(rest) if self.implicit_dot => rest,
                _ => path,
            };
            self.search_file(path, shown);
        }
    }

    /// --include and --exclude, matched against the base name; operands
    /// named on the command line are only subject to --exclude... as GNU.
    fn selected(&self, name: &std::ffi::OsStr, operand: bool) -> bool {
        if self.opts.exclude.iter().any(|g| g.is_match(name)) {
            return false;
        }
        operand
            || self.opts.include.is_empty()
            || self.opts.include.iter().any(|g| g.is_match(name))
    }

    /// Searches the file at `path`, naming it `shown` in output.
    fn search_file(&mut self, path: &Path, shown: &Path) {
        match std::fs::File::open(path) {
            Ok(file) => self.search_reader(shown, Some(file)),
            Err(err) => self.warn(format_args!("{}: {}", shown.display(), describe(&err))),
        }
    }

    fn search_reader(&mut self, path: &Path, file: Option<std::fs::File>) {
        let mut sink = LineSink {
            grep_out: &mut self.out,
            opts: self.opts,
            matcher: self.matcher,
            path: path.to_string_lossy().into_owned(),
            multiple: self.multiple,
            count: 0,
            binary: false,
            binary_matched: false,
            printed_any: false,
        };
        let result = match file {
            Some(file) => self.searcher.search_file(self.matcher, &file, &mut sink),
            None => self
                .searcher
                .search_reader(self.matcher, io::stdin().lock(), &mut sink),
        };
        let (count, binary_matched) = (sink.count, sink.binary_matched);
        if let Err(err) = result {
            self.warn(format_args!("{}: {}", path.display(), describe(&err)));
            return;
        }
        let opts = self.opts;
        // -L selects the files without a match; as in GNU grep 3.5 and
        // later, listing one is success.
        self.matched |= if opts.files_without_match {
            count == 0
        } else {
            count > 0
        };
        let name = path.to_string_lossy();
        let written = if opts.quiet {
            Ok(())
        } else if opts.files_with_matches {
            if count > 0 {
                writeln!(self.out, "{name}")
            } else {
                Ok(())
            }
        } else if opts.files_without_match {
            if count == 0 {
                writeln!(self.out, "{name}")
            } else {
                Ok(())
            }
        } else if opts.count {
            if self.multiple {
                writeln!(self.out, "{name}:{count}")
            } else {
                writeln!(self.out, "{count}")
            }
        } else {
            Ok(())
        };
        if binary_matched
            && !opts.quiet
            && !opts.count
            && !opts.files_with_matches
            && !opts.files_without_match
        {
            let _ = self.out.flush();
            eprintln!("grep: {name}: binary file matches");
        }
        if written.is_err() {
            self.trouble = true;
        }
    }
}

/// Prints selected lines (and context) of one file the way GNU grep does.
struct LineSink<'a, W: Write> {
    grep_out: &'a mut W,
    opts: &'a Options,
    matcher: &'a RegexMatcher,
    path: String,
    multiple: bool,
    count: u64,
    binary: bool,
    binary_matched: bool,
    printed_any: bool,
}

impl<W: Write> LineSink<'_, W> {
    /// Whether lines are printed at all (not -c, -l, -L, -q).
    fn prints_lines(&self) -> bool {
        let o = self.opts;
        !(o.count || o.files_with_matches || o.files_without_match || o.quiet)
    }

    fn prefix(&mut self, line_number: Option<u64>, sep: u8) -> io::Result<()> {
        if self.multiple {
            self.grep_out.write_all(self.path.as_bytes())?;
            self.grep_out.write_all(&[sep])?;
        }
        if let (true, Some(n)) = (self.opts.line_number, line_number) {
            write!(self.grep_out, "{n}")?;
            self.grep_out.write_all(&[sep])?;
        }
        Ok(())
    }
}

impl<W: Write> Sink for LineSink<'_, W> {
    type Error = io::Error;

    fn matched(&mut self, _searcher: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, io::Error> {
        self.count += 1;
        if self.opts.quiet || self.opts.files_with_matches || self.opts.files_without_match {
            return Ok(false);
        }
        if !self.prints_lines() {
            return Ok(true);
        }
        if self.binary {
            // GNU prints one notice instead of the lines of a binary file.
            self.binary_matched = true;
            return Ok(false);
        }
        self.printed_any = true;
        let line = mat.bytes();
        if self.opts.only_matching {
            if self.opts.invert {
                return Ok(true);
            }
            let mut matches = Vec::new();
            self.matcher
                .find_iter(line, |m| {
                    if !m.is_empty() {
                        matches.push(m);
                    }
                    true
                })
                .map_err(io::Error::other)?;
            for m in matches {
                self.prefix(mat.line_number(), b':')?;
                self.grep_out.write_all(&line[m])?;
                self.grep_out.write_all(b"\n")?;
            }
            return Ok(true);
        }
        self.prefix(mat.line_number(), b':')?;
        self.grep_out.write_all(line)?;
        if !line.ends_with(b"\n") {
            self.grep_out.write_all(b"\n")?;
        }
        Ok(true)
    }

    fn context(&mut self, _searcher: &Searcher, ctx: &SinkContext<'_>) -> Result<bool, io::Error> {
        if !self.prints_lines() || self.binary || self.opts.only_matching {
            return Ok(true);
        }
        if matches!(ctx.kind(), SinkContextKind::Other) {
            return Ok(true);
        }
        self.printed_any = true;
        self.prefix(ctx.line_number(), b'-')?;
        let line = ctx.bytes();
        self.grep_out.write_all(line)?;
        if !line.ends_with(b"\n") {
            self.grep_out.write_all(b"\n")?;
        }
        Ok(true)
    }

    fn context_break(&mut self, _searcher: &Searcher) -> Result<bool, io::Error> {
        if self.prints_lines() && self.printed_any && !self.opts.only_matching {
            self.grep_out.write_all(b"--\n")?;
        }
        Ok(true)
    }

    fn binary_data(&mut self, _searcher: &Searcher, _offset: u64) -> Result<bool, io::Error> {
        self.binary = true;
        Ok(true)
    }
}
