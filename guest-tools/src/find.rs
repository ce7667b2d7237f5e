//! `find` over walkdir and globset: GNU find's common expressions.
//!
//! Starting points, then an expression of tests (-name -iname -path -ipath
//! -type -empty -newer -size), actions (-print -print0 -delete -prune) and
//! operators (! -not, -a -and, -o -or, parentheses), with -maxdepth,
//! -mindepth and -L. -exec, -execdir, -ok and -okdir are refused: a
//! sandboxed tool cannot start processes. uutils findutils does not build
//! for WASI (its onig_sys dependency needs a C toolchain for wasm).
//!
//! Entries are visited in name order, so output is the same on every
//! filesystem and OS (GNU find uses directory order).

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::path::Path;
use std::time::SystemTime;

use crate::io_error::describe;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

enum Expr {
    True,
    Name(GlobSet),
    Path(GlobSet),
    Type(char),
    Empty,
    Newer(SystemTime),
    Size(std::cmp::Ordering, u64, u64),
    Print,
    Print0,
    Delete,
    Prune,
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

struct Parsed {
    expr: Expr,
    has_action: bool,
    deletes: bool,
}

struct Settings {
    min_depth: usize,
    max_depth: usize,
    follow: bool,
}

struct Failure(String);

pub fn main(args: Vec<OsString>) -> i32 {
    let args: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match run(&args) {
        Ok(code) => code,
        Err(Failure(message)) => {
            eprintln!("find: {message}");
            1
        }
    }
}

fn is_expression_start(arg: &str) -> bool {
    (arg.starts_with('-') && arg.len() > 1) || arg == "(" || arg == "!" || arg == ")"
}

fn run(args: &[String]) -> Result<i32, Failure> {
    let mut settings = Settings {
        min_depth: 0,
        max_depth: usize::MAX,
        follow: false,
    };
    let mut i = 0;
    while i < args.len() && matches!(args[i].as_str(), "-L" | "-P" | "-H") {
        settings.follow = args[i] == "-L";
        i += 1;
    }
    let starts_at = i;
    while i < args.len() && !is_expression_start(&args[i]) {
        i += 1;
    }
    let mut roots: Vec<&str> = args[starts_at..i].iter().map(String::as_str).collect();
    if roots.is_empty() {
        roots.push(".");
    }
    let mut parser = Parser {
        tokens: &args[i..],
        pos: 0,
        settings: &mut settings,
        has_action: false,
        deletes: false,
    };
    let expr = if parser.tokens.is_empty() {
        Expr::True
    } else {
        parser.or()?
    };
    if let Some(extra) = parser.tokens.get(parser.pos) {
        return Err(Failure(format!("paths must precede expression: '{extra}'")));
    }
    let parsed = Parsed {
        expr,
        has_action: parser.has_action,
        deletes: parser.deletes,
    };
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut code = 0;
    for root in roots {
        code |= walk(root, &parsed, &settings, &mut out);
    }
    let _ = out.flush();
    Ok(code)
}

struct Parser<'a> {
    tokens: &'a [String],
    pos: usize,
    settings: &'a mut Settings,
    has_action: bool,
    deletes: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(String::as_str)
    }

    fn value(&mut self, flag: &str) -> Result<String, Failure> {
        self.pos += 1;
        self.tokens
            .get(self.pos - 1)
            .cloned()
            .ok_or_else(|| Failure(format!("missing argument to '{flag}'")))
    }

    fn or(&mut self) -> Result<Expr, Failure> {
        let mut left = self.and()?;
        while matches!(self.peek(), Some("-o" | "-or")) {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, Failure> {
        let mut left = self.unary()?;
        loop {
            match self.peek() {
                Some("-a" | "-and") => self.pos += 1,
                Some("-o" | "-or" | ")") | None => return Ok(left),
                Some(_) => {}
            }
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, Failure> {
        match self.peek() {
            Some("!" | "-not") => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some("(") => {
                self.pos += 1;
                let inner = self.or()?;
                if self.peek() != Some(")") {
                    return Err(Failure("invalid expression; expected ')'".into()));
                }
                self.pos += 1;
                Ok(inner)
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, Failure> {
        let Some(token) = self.peek().map(str::to_string) else {
            return Err(Failure("invalid expression".into()));
        };
        self.pos += 1;
        // `*` may match `/`: as GNU find has it for -path, and all the same
        // for -name, whose name has none (and so `*.rs` is an extension
        // lookup for globset rather than a regex).
        let glob = |pattern: &str, case_insensitive: bool| {
            GlobBuilder::new(pattern)
                .case_insensitive(case_insensitive)
                .backslash_escape(true)
                .build()
                // A set of one: globset then matches `*.rs` by extension,
                // `Makefile` by name, and only the rest with a regex.
                .and_then(|g| GlobSetBuilder::new().add(g).build())
                .map_err(|e| Failure(format!("invalid pattern '{pattern}': {e}")))
        };
        let number = |flag: &str, text: &str| {
            text.parse::<usize>()
                .map_err(|_| Failure(format!("invalid argument '{text}' to '{flag}'")))
        };
        Ok(match token.as_str() {
            "-name" => Expr::Name(glob(&self.value(&token)?, false)?),
            "-iname" => Expr::Name(glob(&self.value(&token)?, true)?),
            "-path" | "-wholename" => Expr::Path(glob(&self.value(&token)?, false)?),
            "-ipath" | "-iwholename" => Expr::Path(glob(&self.value(&token)?, true)?),
            "-type" => {
                let kind = self.value(&token)?;
                match kind.as_str() {
                    "f" | "d" | "l" => Expr::Type(kind.chars().next().unwrap_or('f')),
                    _ => return Err(Failure(format!("Unknown argument to -type: {kind}"))),
                }
            }
            "-empty" => Expr::Empty,
            "-newer" => {
                let reference = self.value(&token)?;
                let modified = std::fs::metadata(&reference)
                    .and_then(|m| m.modified())
                    .map_err(|_| Failure(format!("'{reference}': No such file or directory")))?;
                Expr::Newer(modified)
            }
            "-size" => parse_size(&self.value(&token)?)?,
            "-maxdepth" => {
                self.settings.max_depth = number(&token, &self.value(&token)?)?;
                Expr::True
            }
            "-mindepth" => {
                self.settings.min_depth = number(&token, &self.value(&token)?)?;
                Expr::True
            }
            "-true" => Expr::True,
            "-false" => Expr::Not(Box::new(Expr::True)),
            "-print" => {
                self.has_action = true;
                Expr::Print
            }
            "-print0" => {
                self.has_action = true;
                Expr::Print0
            }
            "-delete" => {
                self.has_action = true;
                self.deletes = true;
                Expr::Delete
            }
            "-prune" => Expr::Prune,
            "-exec" | "-execdir" | "-ok" | "-okdir" => {
                return Err(Failure(format!(
                    "{token} is not available: a sandboxed tool cannot start processes"
                )));
            }
            other => return Err(Failure(format!("unknown predicate '{other}'"))),
        })
    }
}

fn parse_size(text: &str) -> Result<Expr, Failure> {
    let bad = || Failure(format!("invalid -size argument '{text}'"));
    let (order, rest) = match text.as_bytes().first() {
        Some(b'+') => (std::cmp::Ordering::Greater, &text[1..]),
        Some(b'-') => (std::cmp::Ordering::Less, &text[1..]),
        _ => (std::cmp::Ordering::Equal, text),
    };
    let (digits, unit) = match rest.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&rest[..i], &rest[i..]),
        None => (rest, "b"),
    };
    let unit_bytes = match unit {
        "c" => 1,
        "w" => 2,
        "b" => 512,
        "k" => 1024,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(bad()),
    };
    let n = digits.parse().map_err(|_| bad())?;
    Ok(Expr::Size(order, n, unit_bytes))
}

/// What evaluating the expression on one entry asks of the walk.
#[derive(Default)]
struct Effects {
    prune: bool,
}

struct Entry<'a> {
    path: &'a Path,
    name: &'a OsStr,
    /// From the directory listing: no extra system call.
    file_type: std::fs::FileType,
    /// Fetched only for the predicates that need it (-empty, -newer,
    /// -size): under WASI each lookup is a host call.
    meta: std::cell::OnceCell<std::fs::Metadata>,
    follow: bool,
}

impl Entry<'_> {
    fn meta(&self) -> io::Result<&std::fs::Metadata> {
        if let Some(meta) = self.meta.get() {
            return Ok(meta);
        }
        let meta = if self.follow {
            std::fs::metadata(self.path)?
        } else {
            std::fs::symlink_metadata(self.path)?
        };
        Ok(self.meta.get_or_init(|| meta))
    }
}

fn eval(
    expr: &Expr,
    e: &Entry<'_>,
    out: &mut impl Write,
    effects: &mut Effects,
) -> io::Result<bool> {
    Ok(match expr {
        Expr::True => true,
        Expr::Name(glob) => glob.is_match(e.name),
        Expr::Path(glob) => glob.is_match(e.path),
        Expr::Type(kind) => {
            let t = e.file_type;
            match kind {
                'f' => t.is_file(),
                'd' => t.is_dir(),
                _ => t.is_symlink(),
            }
        }
        Expr::Empty => {
            if e.file_type.is_dir() {
                std::fs::read_dir(e.path)?.next().is_none()
            } else {
                e.file_type.is_file() && e.meta()?.len() == 0
            }
        }
        Expr::Newer(time) => e.meta()?.modified().is_ok_and(|m| m > *time),
        Expr::Size(order, n, unit) => {
            // GNU rounds sizes up to whole units.
            let units = e.meta()?.len().div_ceil(*unit);
            units.cmp(n) == *order
        }
        Expr::Print => {
            out.write_all(e.path.as_os_str().as_encoded_bytes())?;
            out.write_all(b"\n")?;
            true
        }
        Expr::Print0 => {
            out.write_all(e.path.as_os_str().as_encoded_bytes())?;
            out.write_all(b"\0")?;
            true
        }
        Expr::Delete => {
            if e.path == Path::new(".") {
                true
            } else if e.file_type.is_dir() {
                std::fs::remove_dir(e.path).map(|()| true)?
            } else {
                std::fs::remove_file(e.path).map(|()| true)?
            }
        }
        Expr::Prune => {
            effects.prune = true;
            true
        }
        Expr::Not(inner) => !eval(inner, e, out, effects)?,
        Expr::And(a, b) => eval(a, e, out, effects)? && eval(b, e, out, effects)?,
        Expr::Or(a, b) => eval(a, e, out, effects)? || eval(b, e, out, effects)?,
    })
}

/// The bytes after the last `/` of a path walkdir built (parent joined
/// with a name: never a trailing `/`).
fn last_name(path: &Path) -> &[u8] {
    let bytes = path.as_os_str().as_encoded_bytes();
    bytes.rsplit(|b| *b == b'/').next().unwrap_or(bytes)
}

fn walk(root: &str, parsed: &Parsed, settings: &Settings, out: &mut impl Write) -> i32 {
    let mut code = 0;
    let walker = walkdir::WalkDir::new(root)
        .follow_links(settings.follow)
        .min_depth(settings.min_depth)
        .max_depth(settings.max_depth)
        .contents_first(parsed.deletes)
        // By name, as walkdir's sort_by_file_name, without parsing each
        // path into components at every comparison (most of find's time
        // in a large tree).
        .sort_by(|a, b| last_name(a.path()).cmp(last_name(b.path())));
    let mut walker = walker.into_iter();
    while let Some(entry) = walker.next() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                let _ = out.flush();
                let shown = err
                    .path()
                    .map_or(root.to_string(), |p| p.display().to_string());
                let reason = err.io_error().map_or_else(|| err.to_string(), describe);
                eprintln!("find: '{shown}': {reason}");
                code = 1;
                continue;
            }
        };
        let name = if entry.depth() == 0 {
            entry.path().as_os_str()
        } else {
            entry.file_name()
        };
        let e = Entry {
            path: entry.path(),
            name,
            file_type: entry.file_type(),
            meta: std::cell::OnceCell::new(),
            follow: settings.follow,
        };
        let mut effects = Effects::default();
        match eval(&parsed.expr, &e, out, &mut effects) {
            Ok(true) if !parsed.has_action => {
                let _ = out.write_all(e.path.as_os_str().as_encoded_bytes());
                let _ = out.write_all(b"\n");
            }
            Ok(_) => {}
            Err(err) => {
                let _ = out.flush();
                eprintln!("find: '{}': {}", e.path.display(), describe(&err));
                code = 1;
            }
        }
        if effects.prune && e.file_type.is_dir() && !parsed.deletes {
            walker.skip_current_dir();
        }
    }
    code
}
