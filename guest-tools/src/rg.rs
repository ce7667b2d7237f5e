//! `rg`: ripgrep's command line for the flags agents use, over ripgrep's
//! own crates: `ignore` walks (honouring `.gitignore` inside a git
//! repository, `.ignore` and `.rgignore` everywhere, hidden files, `-g`
//! and `-t`), grep-regex matches, grep-searcher searches and grep-printer
//! prints (standard lines, `-l`/`-c` summaries, `--json`). Exit 0 when
//! something matched, 1 when nothing did, 2 on an error.
//!
//! Unlike ripgrep, the walk is sequential and in name order (a WASI guest
//! has no threads), so output is the same on every run.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use grep_printer::{
    JSON, JSONBuilder, Standard, StandardBuilder, Stats, Summary, SummaryBuilder, SummaryKind,
};
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder};
use ignore::WalkBuilder;
use ignore::overrides::OverrideBuilder;
use ignore::types::TypesBuilder;

/// ripgrep's exit code for an error.
const TROUBLE: i32 = 2;

#[derive(Default, Clone, Copy, PartialEq)]
enum Case {
    #[default]
    Sensitive,
    Insensitive,
    Smart,
}

/// What is printed.
#[derive(Default, Clone, Copy, PartialEq)]
enum Output {
    #[default]
    Lines,
    Count,
    CountMatches,
    FilesWithMatches,
    FilesWithoutMatch,
    /// `--files`: the files that would be searched.
    Files,
    Json,
}

#[derive(Default)]
struct Options {
    patterns: Vec<String>,
    /// Patterns came from -e or -f, so every operand is a path.
    explicit_patterns: bool,
    paths: Vec<PathBuf>,
    case: Case,
    fixed: bool,
    word: bool,
    whole_line: bool,
    invert: bool,
    line_number: Option<bool>,
    column: bool,
    with_filename: Option<bool>,
    heading: bool,
    only_matching: bool,
    replace: Option<String>,
    output: Output,
    quiet: bool,
    before: usize,
    after: usize,
    max_count: Option<u64>,
    max_depth: Option<usize>,
    /// -u given this many times.
    unrestricted: u8,
    hidden: bool,
    no_ignore: bool,
    no_ignore_vcs: bool,
    follow: bool,
    /// -a: binary files searched as text.
    text: bool,
    /// --binary: walked binary files searched, not skipped.
    binary: bool,
    globs: Vec<String>,
    iglobs: Vec<String>,
    types: Vec<String>,
    types_not: Vec<String>,
    null: bool,
    no_messages: bool,
}

/// A usage error: the message, exit 2.
struct Usage(String);

pub fn main(args: Vec<OsString>) -> i32 {
    let opts = match parse(args) {
        Ok(Some(opts)) => opts,
        Ok(None) => return 0,
        Err(Usage(message)) => {
            eprintln!("rg: {message}");
            return TROUBLE;
        }
    };
    match run(&opts) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            TROUBLE
        }
    }
}

/// The flags that take a value, by short and long name.
const VALUED: &[(char, &str)] = &[
    ('e', "regexp"),
    ('f', "file"),
    ('A', "after-context"),
    ('B', "before-context"),
    ('C', "context"),
    ('m', "max-count"),
    ('d', "max-depth"),
    ('g', "glob"),
    ('t', "type"),
    ('T', "type-not"),
    ('r', "replace"),
];

const LONG_VALUED: &[&str] = &["iglob", "color", "colour", "sort", "maxdepth"];

/// The arguments, or `None` when `--help`/`--version` answered.
fn parse(args: Vec<OsString>) -> Result<Option<Options>, Usage> {
    let mut opts = Options::default();
    let mut operands: Vec<OsString> = Vec::new();
    let mut args = args.into_iter().skip(1);
    let mut only_operands = false;
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        if only_operands || text == "-" || !text.starts_with('-') {
            operands.push(arg);
            continue;
        }
        if text == "--" {
            only_operands = true;
            continue;
        }
        if let Some(long) = text.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (long, None),
            };
            let takes_value = VALUED.iter().any(|(_, l)| *l == name) || LONG_VALUED.contains(&name);
            let value = if takes_value {
                match inline {
                    Some(value) => Some(value),
                    None => Some(next_value(&mut args, &format!("--{name}"))?),
                }
            } else if inline.is_some() {
                return Err(Usage(format!("flag --{name} does not take a value")));
            } else {
                None
            };
            if !apply_long(&mut opts, name, value)? {
                return Ok(None);
            }
            continue;
        }
        let cluster: Vec<char> = text[1..].chars().collect();
        let mut i = 0;
        while i < cluster.len() {
            let flag = cluster[i];
            i += 1;
            if let Some((_, long)) = VALUED.iter().find(|(short, _)| *short == flag) {
                let value = if i < cluster.len() {
                    cluster[i..].iter().collect()
                } else {
                    next_value(&mut args, &format!("-{flag}"))?
                };
                apply_long(&mut opts, long, Some(value))?;
                break;
            }
            let long = match flag {
                'n' => "line-number",
                'N' => "no-line-number",
                'i' => "ignore-case",
                's' => "case-sensitive",
                'S' => "smart-case",
                'F' => "fixed-strings",
                'w' => "word-regexp",
                'x' => "line-regexp",
                'v' => "invert-match",
                'l' => "files-with-matches",
                'c' => "count",
                'q' => "quiet",
                'u' => "unrestricted",
                'L' => "follow",
                'H' => "with-filename",
                'I' => "no-filename",
                'o' => "only-matching",
                'a' => "text",
                '0' => "null",
                '.' => "hidden",
                'h' => "help",
                'V' => "version",
                _ => return Err(Usage(format!("unrecognized flag -{flag}"))),
            };
            if !apply_long(&mut opts, long, None)? {
                return Ok(None);
            }
        }
    }
    let mut operands = operands.into_iter();
    if !opts.explicit_patterns && opts.output != Output::Files {
        match operands.next() {
            Some(pattern) => opts.patterns.push(text_of(pattern)?),
            None => {
                return Err(Usage(
                    "ripgrep requires at least one pattern to execute a search".into(),
                ));
            }
        }
    }
    opts.paths = operands.map(PathBuf::from).collect();
    Ok(Some(opts))
}

fn next_value(args: &mut impl Iterator<Item = OsString>, flag: &str) -> Result<String, Usage> {
    match args.next() {
        Some(value) => text_of(value),
        None => Err(Usage(format!("missing value for flag {flag}"))),
    }
}

fn text_of(value: OsString) -> Result<String, Usage> {
    value
        .into_string()
        .map_err(|v| Usage(format!("{} is not valid UTF-8", v.to_string_lossy())))
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, Usage> {
    value.parse().map_err(|_| {
        Usage(format!(
            "invalid value '{value}' for --{flag}: not a number"
        ))
    })
}

/// Applies one long flag; false when it was `--help` or `--version`, which
/// answer at once.
fn apply_long(opts: &mut Options, name: &str, value: Option<String>) -> Result<bool, Usage> {
    let value = value.unwrap_or_default();
    match name {
        "regexp" => {
            opts.patterns.push(value);
            opts.explicit_patterns = true;
        }
        "file" => {
            let text = if value == "-" {
                io::read_to_string(io::stdin())
            } else {
                std::fs::read_to_string(&value)
            }
            .map_err(|e| Usage(format!("{value}: {e}")))?;
            opts.patterns.extend(text.lines().map(str::to_string));
            opts.explicit_patterns = true;
        }
        "after-context" => opts.after = number(name, &value)?,
        "before-context" => opts.before = number(name, &value)?,
        "context" => {
            opts.after = number(name, &value)?;
            opts.before = opts.after;
        }
        "max-count" => opts.max_count = Some(number(name, &value)?),
        "max-depth" | "maxdepth" => opts.max_depth = Some(number(name, &value)?),
        "glob" => opts.globs.push(value),
        "iglob" => opts.iglobs.push(value),
        "type" => opts.types.push(value),
        "type-not" => opts.types_not.push(value),
        "replace" => opts.replace = Some(value),
        "color" | "colour" => {
            if !matches!(value.as_str(), "never" | "auto") {
                return Err(Usage(format!(
                    "--color={value}: cordon's rg prints no colour (never and auto are accepted)"
                )));
            }
        }
        // The walk is always in name order.
        "sort" => {
            if !matches!(value.as_str(), "path" | "none") {
                return Err(Usage(format!(
                    "--sort={value}: cordon's rg sorts by path only"
                )));
            }
        }
        "sort-files" | "no-heading" | "no-messages-off" => {}
        "heading" => opts.heading = true,
        "line-number" => opts.line_number = Some(true),
        "no-line-number" => opts.line_number = Some(false),
        "column" => opts.column = true,
        "ignore-case" => opts.case = Case::Insensitive,
        "case-sensitive" => opts.case = Case::Sensitive,
        "smart-case" => opts.case = Case::Smart,
        "fixed-strings" => opts.fixed = true,
        "word-regexp" => opts.word = true,
        "line-regexp" => opts.whole_line = true,
        "invert-match" => opts.invert = true,
        "files-with-matches" => opts.output = Output::FilesWithMatches,
        "files-without-match" => opts.output = Output::FilesWithoutMatch,
        "count" => opts.output = Output::Count,
        "count-matches" => opts.output = Output::CountMatches,
        "files" => opts.output = Output::Files,
        "json" => opts.output = Output::Json,
        "quiet" => opts.quiet = true,
        "unrestricted" => opts.unrestricted = opts.unrestricted.saturating_add(1),
        "hidden" => opts.hidden = true,
        "no-hidden" => opts.hidden = false,
        "no-ignore" => opts.no_ignore = true,
        "no-ignore-vcs" => opts.no_ignore_vcs = true,
        "follow" => opts.follow = true,
        "with-filename" => opts.with_filename = Some(true),
        "no-filename" => opts.with_filename = Some(false),
        "only-matching" => opts.only_matching = true,
        "text" => opts.text = true,
        "binary" => opts.binary = true,
        "null" => opts.null = true,
        "no-messages" => opts.no_messages = true,
        "help" => {
            println!(
                "rg (cordon's built-in ripgrep)\n\nUsage: rg [OPTIONS] PATTERN [PATH ...]\n       rg [OPTIONS] -e PATTERN ... [PATH ...]\n       rg [OPTIONS] --files [PATH ...]\n\nSee docs/TOOLS.md for the flags it takes."
            );
            return Ok(false);
        }
        "version" => {
            println!("ripgrep 15 (cordon built-in)");
            return Ok(false);
        }
        _ => return Err(Usage(format!("unrecognized flag --{name}"))),
    }
    Ok(true)
}

/// Where a search reads: a file found by the walk or named, or stdin.
enum Haystack {
    /// A file; `explicit` when named on the command line.
    File {
        path: PathBuf,
        explicit: bool,
    },
    Stdin,
}

fn run(opts: &Options) -> Result<i32, String> {
    let hidden = opts.hidden || opts.unrestricted >= 2;
    let no_ignore = opts.no_ignore || opts.unrestricted >= 1;
    let search_binary = opts.binary || opts.unrestricted >= 3;
    let (walk_roots, read_stdin) = if opts.paths.is_empty() {
        // ripgrep's heuristic: a file, a pipe or a socket, not a terminal or
        // `/dev/null`; WASI shows them alike, cordon's host tells.
        if cordon_host_calls::stdin_is_readable() && opts.output != Output::Files {
            (Vec::new(), true)
        } else {
            (vec![PathBuf::from("./")], false)
        }
    } else {
        (opts.paths.clone(), false)
    };
    let strip_dot = opts.paths.is_empty();
    let single_file = read_stdin
        || (opts.paths.len() == 1 && (opts.paths[0].as_os_str() == "-" || opts.paths[0].is_file()));
    let with_filename = opts.with_filename.unwrap_or(!single_file);
    let mut out = Out::new(opts, with_filename)?;
    let mut searchers = Searchers::new(opts, search_binary);
    let matcher = if opts.output == Output::Files {
        None
    } else {
        Some(build_matcher(opts)?)
    };

    let mut haystacks: Vec<Result<Haystack, String>> = Vec::new();
    if read_stdin {
        haystacks.push(Ok(Haystack::Stdin));
    }
    let mut stdin_named = false;
    let mut walk: Option<WalkBuilder> = None;
    for root in &walk_roots {
        if root.as_os_str() == "-" {
            stdin_named = true;
            continue;
        }
        match walk.as_mut() {
            Some(builder) => {
                builder.add(root);
            }
            None => walk = Some(WalkBuilder::new(root)),
        }
    }
    if stdin_named {
        haystacks.push(Ok(Haystack::Stdin));
    }
    if let Some(mut builder) = walk {
        builder
            .hidden(!hidden)
            .ignore(!no_ignore)
            .parents(!no_ignore)
            .git_ignore(!no_ignore && !opts.no_ignore_vcs)
            .git_global(!no_ignore && !opts.no_ignore_vcs)
            .git_exclude(!no_ignore && !opts.no_ignore_vcs)
            .follow_links(opts.follow)
            .max_depth(opts.max_depth)
            .sort_by_file_name(|a, b| a.cmp(b));
        if !no_ignore {
            builder.add_custom_ignore_filename(".rgignore");
        }
        builder.overrides(overrides(opts)?);
        builder.types(types(opts)?);
        for entry in builder.build() {
            haystacks.push(match entry {
                // A walked symlink is searched only with -L (then the walk
                // reports what it points to); a named one always.
                Ok(entry)
                    if entry
                        .file_type()
                        .is_some_and(|t| t.is_file() || (entry.depth() == 0 && !t.is_dir())) =>
                {
                    let explicit = entry.depth() == 0;
                    let path = if strip_dot {
                        entry.path().strip_prefix("./").unwrap_or(entry.path())
                    } else {
                        entry.path()
                    };
                    Ok(Haystack::File {
                        path: path.to_path_buf(),
                        explicit,
                    })
                }
                Ok(_) => continue,
                Err(err) => Err(walk_error(&err)),
            });
        }
    }

    let mut matched = false;
    let mut errored = false;
    for haystack in haystacks {
        let haystack = match haystack {
            Ok(haystack) => haystack,
            Err(message) => {
                errored = true;
                if !opts.no_messages {
                    out.message(&message);
                }
                continue;
            }
        };
        let found = match (&matcher, &haystack) {
            (None, Haystack::File { path, .. }) => out.list(path).map(|()| true),
            (None, Haystack::Stdin) => Ok(false),
            (Some(matcher), _) => out.search(&mut searchers, matcher, &haystack),
        };
        match found {
            Ok(found) => matched |= found,
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => break,
            Err(err) => {
                errored = true;
                if !opts.no_messages {
                    let name = match &haystack {
                        Haystack::File { path, .. } => path.display().to_string(),
                        Haystack::Stdin => "<stdin>".into(),
                    };
                    out.message(&format!("{name}: {}", os_error(&err)));
                }
            }
        }
        if matched && opts.quiet {
            break;
        }
    }
    out.finish().map_err(|e| format!("rg: {e}"))?;
    Ok(if errored && !(opts.quiet && matched) {
        TROUBLE
    } else if matched {
        0
    } else {
        1
    })
}

/// A walk's error as ripgrep prints it: `PATH: MESSAGE (os error N)`, N
/// as Linux numbers it (WASI numbers errors its own way).
fn walk_error(err: &ignore::Error) -> String {
    let mut inner = err;
    let mut path = None;
    loop {
        match inner {
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
                inner = err
            }
            ignore::Error::WithPath { path: at, err } => {
                path = Some(at.clone());
                inner = err;
            }
            _ => break,
        }
    }
    match (path, inner.io_error()) {
        (Some(path), Some(io)) => format!("{}: {}", path.display(), os_error(io)),
        _ => err.to_string(),
    }
}

/// `io` as Rust on Linux words it.
fn os_error(io: &io::Error) -> String {
    let code = match io.kind() {
        io::ErrorKind::NotFound => 2,
        io::ErrorKind::PermissionDenied => 13,
        io::ErrorKind::NotADirectory => 20,
        io::ErrorKind::IsADirectory => 21,
        _ => return io.to_string(),
    };
    format!("{} (os error {code})", crate::io_error::describe(io))
}

fn build_matcher(opts: &Options) -> Result<RegexMatcher, String> {
    let mut builder = RegexMatcherBuilder::new();
    builder
        .case_insensitive(opts.case == Case::Insensitive)
        .case_smart(opts.case == Case::Smart)
        .word(opts.word)
        .whole_line(opts.whole_line)
        .fixed_strings(opts.fixed)
        .line_terminator(Some(b'\n'));
    builder
        .build_many(&opts.patterns)
        .map_err(|e| e.to_string())
}

fn overrides(opts: &Options) -> Result<ignore::overrides::Override, String> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut builder = OverrideBuilder::new(cwd);
    for glob in &opts.globs {
        builder.add(glob).map_err(|e| e.to_string())?;
    }
    builder.case_insensitive(true).map_err(|e| e.to_string())?;
    for glob in &opts.iglobs {
        builder.add(glob).map_err(|e| e.to_string())?;
    }
    builder.build().map_err(|e| e.to_string())
}

fn types(opts: &Options) -> Result<ignore::types::Types, String> {
    let mut builder = TypesBuilder::new();
    builder.add_defaults();
    for name in &opts.types {
        builder.select(name);
    }
    for name in &opts.types_not {
        builder.negate(name);
    }
    builder.build().map_err(|e| e.to_string())
}

/// The searcher for files the walk found, which skips a binary file at
/// its first NUL, and the one for files named and stdin, which searches
/// on and says a binary file matched.
struct Searchers {
    walked: Searcher,
    named: Searcher,
}

impl Searchers {
    fn new(opts: &Options, search_binary: bool) -> Searchers {
        let mut builder = SearcherBuilder::new();
        builder
            .line_number(opts.line_number.unwrap_or(false) || opts.column)
            .before_context(opts.before)
            .after_context(opts.after)
            .invert_match(opts.invert)
            .max_matches(opts.max_count);
        if opts.output == Output::Json {
            builder.line_number(true);
        }
        let (walked, named) = if opts.text {
            (BinaryDetection::none(), BinaryDetection::none())
        } else if search_binary {
            (BinaryDetection::convert(0), BinaryDetection::convert(0))
        } else {
            (BinaryDetection::quit(0), BinaryDetection::convert(0))
        };
        let walked_searcher = builder.binary_detection(walked).build();
        let named_searcher = builder.binary_detection(named).build();
        Searchers {
            walked: walked_searcher,
            named: named_searcher,
        }
    }
}

fn search_in<S: grep_searcher::Sink<Error = io::Error>>(
    searcher: &mut Searcher,
    matcher: &RegexMatcher,
    haystack: &Haystack,
    sink: S,
) -> io::Result<()> {
    match haystack {
        Haystack::File { path, .. } => searcher.search_path(matcher, path, sink),
        Haystack::Stdin => searcher.search_reader(matcher, io::stdin().lock(), sink),
    }
}

/// Standard output, the printer writing to it, and what `--json` adds up.
struct Out {
    printer: Printer,
    quiet: bool,
    terminator: u8,
    /// All searches' statistics, for `--json`'s summary.
    stats: Stats,
    started: std::time::Instant,
}

enum Printer {
    Standard(Standard<termcolor::NoColor<Stdout>>),
    Summary(Summary<termcolor::NoColor<Stdout>>),
    Json(JSON<Stdout>),
    /// `--files`: paths only.
    Paths(Stdout),
}

type Stdout = io::BufWriter<io::Stdout>;

impl Out {
    fn new(opts: &Options, with_filename: bool) -> Result<Out, String> {
        let stdout = io::BufWriter::with_capacity(64 * 1024, io::stdout());
        let terminator = if opts.null { 0 } else { b'\n' };
        let summary = |kind: SummaryKind| {
            let mut builder = SummaryBuilder::new();
            builder.kind(kind).path(with_filename);
            if opts.null {
                builder.path_terminator(Some(0));
            }
            builder
        };
        let printer = match opts.output {
            Output::Files => Printer::Paths(stdout),
            _ if opts.quiet => {
                Printer::Summary(summary(SummaryKind::QuietWithMatch).build_no_color(stdout))
            }
            Output::Json => Printer::Json(JSONBuilder::new().build(stdout)),
            Output::Lines => {
                let mut builder = StandardBuilder::new();
                builder
                    .heading(opts.heading)
                    .path(with_filename)
                    .only_matching(opts.only_matching)
                    .column(opts.column)
                    .replacement(opts.replace.clone().map(String::into_bytes))
                    .separator_context(Some(b"--".to_vec()));
                if opts.null {
                    builder.path_terminator(Some(0));
                }
                Printer::Standard(builder.build_no_color(stdout))
            }
            Output::Count => Printer::Summary(summary(SummaryKind::Count).build_no_color(stdout)),
            Output::CountMatches => {
                Printer::Summary(summary(SummaryKind::CountMatches).build_no_color(stdout))
            }
            Output::FilesWithMatches => Printer::Summary(
                summary(SummaryKind::PathWithMatch)
                    .path(true)
                    .build_no_color(stdout),
            ),
            Output::FilesWithoutMatch => Printer::Summary(
                summary(SummaryKind::PathWithoutMatch)
                    .path(true)
                    .build_no_color(stdout),
            ),
        };
        Ok(Out {
            printer,
            quiet: opts.quiet,
            terminator,
            stats: Stats::new(),
            started: std::time::Instant::now(),
        })
    }

    /// `--files`: one path.
    fn list(&mut self, path: &Path) -> io::Result<()> {
        if self.quiet {
            return Ok(());
        }
        let Printer::Paths(out) = &mut self.printer else {
            unreachable!("only --files lists");
        };
        out.write_all(path.as_os_str().as_encoded_bytes())?;
        out.write_all(&[self.terminator])
    }

    /// Searches one haystack; true when it matched.
    fn search(
        &mut self,
        searchers: &mut Searchers,
        matcher: &RegexMatcher,
        haystack: &Haystack,
    ) -> io::Result<bool> {
        let (searcher, path) = match haystack {
            Haystack::File { path, explicit } => (
                if *explicit {
                    &mut searchers.named
                } else {
                    &mut searchers.walked
                },
                path.as_path(),
            ),
            Haystack::Stdin => (&mut searchers.named, Path::new("<stdin>")),
        };
        match &mut self.printer {
            Printer::Standard(printer) => {
                let mut sink = printer.sink_with_path(matcher, path);
                search_in(searcher, matcher, haystack, &mut sink)?;
                Ok(sink.has_match())
            }
            Printer::Summary(printer) => {
                let mut sink = printer.sink_with_path(matcher, path);
                search_in(searcher, matcher, haystack, &mut sink)?;
                Ok(sink.has_match())
            }
            Printer::Json(printer) => {
                let mut sink = printer.sink_with_path(matcher, path);
                search_in(searcher, matcher, haystack, &mut sink)?;
                self.stats += sink.stats();
                Ok(sink.has_match())
            }
            Printer::Paths(_) => unreachable!("--files searches nothing"),
        }
    }

    /// An error about one file, after what was printed before it.
    fn message(&mut self, text: &str) {
        let _ = self.flush();
        eprintln!("{text}");
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.printer {
            Printer::Standard(printer) => printer.get_mut().flush(),
            Printer::Summary(printer) => printer.get_mut().flush(),
            Printer::Json(printer) => printer.get_mut().flush(),
            Printer::Paths(out) => out.flush(),
        }
    }

    /// `--json` ends with the summary ripgrep prints; then everything is
    /// flushed.
    fn finish(mut self) -> io::Result<()> {
        if let Printer::Json(printer) = &mut self.printer {
            let elapsed = self.started.elapsed();
            let summary = serde_json::json!({
                "type": "summary",
                "data": {
                    "elapsed_total": {
                        "secs": elapsed.as_secs(),
                        "nanos": elapsed.subsec_nanos(),
                        "human": format!("{:.6}s", elapsed.as_secs_f64()),
                    },
                    "stats": self.stats,
                },
            });
            let out = printer.get_mut();
            serde_json::to_writer(&mut *out, &summary)?;
            out.write_all(b"\n")?;
        }
        match self.flush() {
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }
}
