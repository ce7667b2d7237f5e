//! `jq`: jq 1.6's command line on the jaq crates (jaq-core, jaq-std,
//! jaq-json), printing as jq 1.6 prints: its number format, its string
//! escapes, its exit codes and, where practical, its messages.
//!
//! Options: FILTER [FILES...], `-n`, `-r`, `-j`, `-a`, `-c`, `-s`, `-R`,
//! `-e`, `-S`, `-f`, `--tab`, `--indent N`, `--arg`, `--argjson`,
//! `--slurpfile`, `--rawfile`, `--argfile`, `--args`, `--jsonargs`, `-C`
//! and `-M` (accepted; output is never coloured), `--unbuffered`
//! (accepted), `-h`, `-V`. All input is read before the program runs on
//! it: the files one after the other into one buffer, parsed as one
//! stream, as jq 1.6 parses them; nothing is read when `-n` is given
//! unless the program calls `input` or `inputs`.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{self, Read, Write};

use jaq_core::box_iter::box_once;
use jaq_core::load::{self, Arena, File, Loader, lex};
use jaq_core::native::{self, bome, v};
use jaq_core::{Ctx, Cv, DataT, Error, Exn, RunPtr, ValXs, Vars, compile, data};
use jaq_json::{Map, Num, Rc, Val, ValR};
use jaq_std::input::RcIter;

/// The data filters run on: jq values, with the input at hand for
/// `input`, `inputs` and `input_filename`.
struct Kind;

impl DataT for Kind {
    type V<'a> = Val;
    type Data<'a> = &'a Globals<'a>;
}

struct Globals<'a> {
    lut: &'a jaq_core::Lut<Kind>,
    inputs: &'a RcIter<dyn Iterator<Item = Result<Val, String>> + 'a>,
    stream: &'a Stream<'a>,
}

impl<'a> data::HasLut<'a, Kind> for &'a Globals<'a> {
    fn lut(&self) -> &'a jaq_core::Lut<Kind> {
        self.lut
    }
}

pub fn main(args: Vec<OsString>) -> i32 {
    let args = args
        .into_iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    match Options::parse(args).and_then(|options| Ok((options.program()?, options))) {
        Ok((program, options)) => run(&options, &program),
        Err(stop) => stop.exit(),
    }
}

/// What ends jq before a program runs.
enum Stop {
    /// `--help`, `--version`: this text on standard output, exit 0.
    Print(String),
    /// A mistake in the command line, with jq's pointer to `--help`.
    Usage(String),
    /// Anything else (exit 2).
    Fail(String),
}

const USAGE_TAIL: &str = "Use jq --help for help with command-line options,\n\
    or see the jq manpage, or online docs  at https://stedolan.github.io/jq\n";

const HELP: &str = "Usage:\tjq [OPTIONS] FILTER [FILES...]
\tjq [OPTIONS] --args FILTER [STRINGS...]
\tjq [OPTIONS] --jsonargs FILTER [JSON_TEXTS...]

jq applies FILTER to the JSON values in FILES (standard input without
FILES) and prints the results as JSON. Without a FILTER it applies `.`.

Options:
  -c, --compact-output   one line per value
  -n, --null-input       run FILTER once on `null`; read input only
                         through `input` and `inputs`
  -e, --exit-status      exit 1 if the last output is false or null,
                         4 if there is no output
  -s, --slurp            read all input values into one array
  -r, --raw-output       print strings without quotes
  -j, --join-output      like -r, without a newline after each output
  -a, --ascii-output     escape non-ASCII characters
  -R, --raw-input        each input line is a string (with -s: the whole
                         input is one string)
  -S, --sort-keys        print object keys in sorted order
  -f, --from-file        read FILTER from the first file name given
      --tab              indent with tabs
      --indent N         indent with N spaces (0 to 7)
      --arg NAME VALUE   set $NAME to the string VALUE
      --argjson NAME JSON
                         set $NAME to the JSON value JSON
      --slurpfile NAME FILE
                         set $NAME to an array of the JSON values in FILE
      --rawfile NAME FILE
                         set $NAME to the contents of FILE as a string
      --args             remaining arguments are strings ($ARGS.positional)
      --jsonargs         remaining arguments are JSON values
  -C, -M                 accepted; the output is never coloured
  -h, --help             this help
  -V, --version          print jq's version (this jq follows jq 1.6)
";

impl Stop {
    fn exit(self) -> i32 {
        match self {
            Stop::Print(text) => {
                let mut out = io::stdout().lock();
                if out
                    .write_all(text.as_bytes())
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    return 2;
                }
                0
            }
            Stop::Usage(message) => {
                eprint!("jq: {message}\n{USAGE_TAIL}");
                2
            }
            Stop::Fail(message) => {
                eprintln!("jq: {message}");
                2
            }
        }
    }
}

/// Where the arguments after the program go.
#[derive(Clone, Copy)]
enum Rest {
    Files,
    Strings,
    Json,
}

struct Options {
    program: Option<String>,
    from_file: bool,
    files: Vec<String>,
    null_input: bool,
    raw_input: bool,
    slurp: bool,
    raw_output: bool,
    join_output: bool,
    ascii: bool,
    sort_keys: bool,
    exit_status: bool,
    /// One level of indentation; `None` prints each value on one line.
    indent: Option<String>,
    /// `--arg` and the like; the first binding of a name holds, as in jq 1.6.
    named: Vec<(String, Val)>,
    /// `--args` and `--jsonargs`.
    positional: Vec<Val>,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, Stop> {
        let mut options = Options {
            program: None,
            from_file: false,
            files: Vec::new(),
            null_input: false,
            raw_input: false,
            slurp: false,
            raw_output: false,
            join_output: false,
            ascii: false,
            sort_keys: false,
            exit_status: false,
            indent: Some("  ".into()),
            named: Vec::new(),
            positional: Vec::new(),
        };
        let mut rest = Rest::Files;
        let mut options_done = false;
        while let Some(arg) = args.next() {
            // As jq 1.6 tells options from operands: `-` and `-1` are operands.
            let bytes = arg.as_bytes();
            let option = !options_done
                && bytes.len() > 1
                && bytes[0] == b'-'
                && (bytes[1] == b'-' || bytes[1].is_ascii_alphabetic());
            if !option {
                options.operand(arg, rest)?;
                continue;
            }
            let Some(long) = arg.strip_prefix("--") else {
                for flag in arg[1..].chars() {
                    if !options.flag(flag)? {
                        return Err(Stop::Usage(format!("Unknown option {arg}")));
                    }
                }
                continue;
            };
            let flag = match long {
                "" => {
                    options_done = true;
                    continue;
                }
                "null-input" => 'n',
                "raw-output" => 'r',
                "join-output" => 'j',
                "ascii-output" => 'a',
                "slurp" => 's',
                "raw-input" => 'R',
                "exit-status" => 'e',
                "sort-keys" => 'S',
                "compact-output" => 'c',
                "color-output" => 'C',
                "monochrome-output" => 'M',
                "from-file" => 'f',
                "help" => 'h',
                "version" => 'V',
                "unbuffered" => continue,
                "tab" => {
                    options.indent = Some("\t".into());
                    continue;
                }
                "indent" => {
                    let n = args
                        .next()
                        .ok_or_else(|| Stop::Usage("--indent takes one parameter".into()))?;
                    options.indent = match n.trim().parse::<i32>().unwrap_or(0) {
                        -1 => Some("\t".into()),
                        0 => None,
                        n @ 1..=7 => Some(" ".repeat(n as usize)),
                        _ => {
                            return Err(Stop::Usage(
                                "--indent takes a number between -1 and 7".into(),
                            ));
                        }
                    };
                    continue;
                }
                "args" => {
                    rest = Rest::Strings;
                    continue;
                }
                "jsonargs" => {
                    rest = Rest::Json;
                    continue;
                }
                "arg" | "argjson" | "slurpfile" | "rawfile" | "argfile" => {
                    let (Some(name), Some(value)) = (args.next(), args.next()) else {
                        let what = if long == "arg" {
                            "value"
                        } else if long == "argjson" {
                            "text"
                        } else {
                            "filename"
                        };
                        return Err(Stop::Usage(format!(
                            "--{long} takes two parameters (e.g. --{long} varname {what})"
                        )));
                    };
                    let value = match long {
                        "arg" => Val::from(value),
                        "argjson" => json_text(&value).ok_or_else(|| {
                            Stop::Usage("invalid JSON text passed to --argjson".into())
                        })?,
                        _ => bound_file(long, &name, &value)?,
                    };
                    if !options.named.iter().any(|(bound, _)| *bound == name) {
                        options.named.push((name, value));
                    }
                    continue;
                }
                _ => return Err(Stop::Usage(format!("Unknown option {arg}"))),
            };
            options.flag(flag)?;
        }
        Ok(options)
    }

    /// Sets a one-letter option; false if there is none by that letter.
    fn flag(&mut self, flag: char) -> Result<bool, Stop> {
        match flag {
            'n' => self.null_input = true,
            'r' => self.raw_output = true,
            'j' => {
                self.raw_output = true;
                self.join_output = true;
            }
            'a' => self.ascii = true,
            's' => self.slurp = true,
            'R' => self.raw_input = true,
            'e' => self.exit_status = true,
            'S' => self.sort_keys = true,
            'c' => self.indent = None,
            'C' | 'M' => {}
            'f' => self.from_file = true,
            'h' => return Err(Stop::Print(HELP.into())),
            'V' => return Err(Stop::Print("jq-1.6\n".into())),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The first operand is the program (with `-f`, the file holding
    /// it); the others are files, or strings and JSON values after
    /// `--args` and `--jsonargs`.
    fn operand(&mut self, arg: String, rest: Rest) -> Result<(), Stop> {
        if self.program.is_none() {
            self.program = Some(arg);
            return Ok(());
        }
        match rest {
            Rest::Files => self.files.push(arg),
            Rest::Strings => self.positional.push(Val::from(arg)),
            Rest::Json => self.positional.push(
                json_text(&arg)
                    .ok_or_else(|| Stop::Usage("invalid JSON text passed to --jsonargs".into()))?,
            ),
        }
        Ok(())
    }

    /// The program's text. jq 1.6 applies `.` when it has no program and
    /// its standard input or output is not a terminal, which a guest's
    /// never are.
    fn program(&self) -> Result<String, Stop> {
        match (&self.program, self.from_file) {
            (None, _) => Ok(".".into()),
            (Some(program), false) => Ok(program.clone()),
            (Some(path), true) => std::fs::read(path)
                .map(|code| String::from_utf8_lossy(&code).into_owned())
                .map_err(|e| {
                    Stop::Fail(format!(
                        "Could not open {path}: {}",
                        crate::io_error::describe(&e)
                    ))
                }),
        }
    }

    fn style(&self) -> Style<'_> {
        Style {
            indent: self.indent.as_deref(),
            sort_keys: self.sort_keys,
            ascii: self.ascii,
        }
    }
}

/// One JSON value given on the command line.
fn json_text(text: &str) -> Option<Val> {
    jaq_json::read::parse_single(text.as_bytes())
        .ok()
        .map(normalized)
}

/// The value `--slurpfile`, `--rawfile` or `--argfile` binds.
fn bound_file(option: &str, name: &str, path: &str) -> Result<Val, Stop> {
    let bad = |why: String| Stop::Fail(format!("Bad JSON in --{option} {name} {path}: {why}"));
    let bytes = std::fs::read(path).map_err(|e| {
        bad(format!(
            "Could not open {path}: {}",
            crate::io_error::describe(&e)
        ))
    })?;
    if option == "rawfile" {
        return Ok(Val::from(String::from_utf8_lossy(&bytes).into_owned()));
    }
    let text = Text {
        bytes,
        sources: vec![(0, Some(path.to_string()))],
    };
    let mut values = Values::new(&text, &Cell::new(None))
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    // `--argfile` binds a file's only value as it is.
    if option == "argfile" && values.len() == 1 {
        return Ok(values.remove(0));
    }
    Ok(values.into_iter().collect())
}

/// Definitions of jaq's that jq 1.6 does differently; `natives` and
/// `DEFS` define them again.
const REPLACED: &[(&str, usize)] = &[
    ("tostring", 0),
    ("@text", 0),
    ("@json", 0),
    ("join", 1),
    ("from_entries", 0),
    ("halt_error", 1),
    ("walk", 1),
];

/// jq 1.6's definitions that jaq lacks or defines otherwise (`walk`
/// works bottom-up, as jq's).
const DEFS: &str = r#"
def leaf_paths: paths(scalars);
def IN(s): any(s == .; .);
def IN(src; s): any(src == s; .);
def INDEX(stream; f): reduce stream as $row ({}; .[$row | f | tostring] |= $row);
def INDEX(f): INDEX(.[]; f);
def tostream: path(def r: (.[]? | r), .; r) as $p | getpath($p) | reduce path(.[]?) as $q ([$p, .]; [$p + $q]);
def fromstream(f): {x: null, e: false} as $init | foreach f as $i ($init;
  if .e then $init else . end
  | if $i | length == 2
    then setpath(["e"]; $i[0] | length == 0) | setpath(["x"] + $i[0]; $i[1])
    else setpath(["e"]; $i[0] | length == 1) end;
  if .e then .x else empty end);
def truncate_stream(stream): . as $n | null | stream | . as $input
  | if (.[0] | length) > $n then setpath([0]; .[0][$n:]) else empty end;
def walk(f): def w: if type == "object" then map_values(w) elif type == "array" then map(w) else . end | f; w;
"#;

fn compile(code: &str, vars: &[String]) -> Result<jaq_core::Filter<Kind>, String> {
    let extra = load::parse(DEFS, |p| p.defs()).expect("jq's definitions parse");
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
        .filter(|def| !REPLACED.contains(&(def.name, def.args.len())))
        .chain(extra);
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(&arena, File { code, path: () })
        .map_err(|errors| load_report(code, errors))?;
    load::import(&modules, |_| Err("modules are not supported".to_string()))
        .map_err(|errors| load_report(code, errors))?;
    compile::Compiler::default()
        .with_funs(funs())
        .with_global_vars(vars.iter().map(String::as_str))
        .compile(modules)
        .map_err(|errors| {
            let errors = errors.into_iter().flat_map(|(_file, errors)| errors);
            let errors = errors.map(|(found, undefined)| {
                let message = match undefined {
                    compile::Undefined::Filter(arity) => format!("{found}/{arity} is not defined"),
                    _ => format!("{found} is not defined"),
                };
                (message, offset_in(code, found))
            });
            report(code, errors.collect())
        })
}

fn load_report(code: &str, errors: load::Errors<&str, ()>) -> String {
    let syntax =
        |token: String| format!("syntax error, unexpected {token} (Unix shell quoting issues?)");
    let mut found = Vec::new();
    for (_file, error) in errors {
        match error {
            load::Error::Io(errors) => {
                // jq 1.6 reports these without a place.
                let missing = errors
                    .into_iter()
                    .map(|(path, _)| (format!("module not found: {path}"), None));
                found.extend(missing);
            }
            load::Error::Lex(errors) => {
                for (expected, at) in errors {
                    let token = match expected {
                        lex::Expect::Token => "INVALID_CHARACTER".into(),
                        _ => token_name(
                            at.get(..at.chars().next().map_or(0, char::len_utf8))
                                .unwrap_or(""),
                        ),
                    };
                    found.push((syntax(token), syntax_offset(code, at)));
                }
            }
            load::Error::Parse(errors) => {
                for (_expected, at) in errors {
                    found.push((syntax(token_name(at)), syntax_offset(code, at)));
                }
            }
        }
    }
    report(code, found)
}

/// A token as jq 1.6's parser names it in "unexpected ...".
fn token_name(token: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "def", "if", "then", "elif", "else", "end", "as", "reduce", "foreach", "try", "catch",
        "label", "import", "include", "and", "or", "__loc__",
    ];
    let Some(first) = token.chars().next() else {
        return "$end".into();
    };
    let word = |c: char| c.is_alphanumeric() || c == '_';
    match first {
        '"' => "QQSTRING_START".into(),
        '@' => "FORMAT".into(),
        '.' if token[1..].starts_with(|c: char| c.is_alphabetic() || c == '_') => "FIELD".into(),
        c if c.is_ascii_digit() => "LITERAL".into(),
        c if word(c) && KEYWORDS.contains(&token) => token.into(),
        c if word(c) => "IDENT".into(),
        c if token.len() == c.len_utf8()
            || token.contains(word)
            || token.contains(char::is_whitespace) =>
        {
            format!("'{c}'")
        }
        _ => token.into(),
    }
}

/// Where jq 1.6 places a syntax error: at the unexpected token, or at
/// the last token when the program ends too early.
fn syntax_offset(code: &str, found: &str) -> Option<usize> {
    if !found.is_empty() {
        return offset_in(code, found);
    }
    let trimmed = code.trim_end();
    let before_word = trimmed.trim_end_matches(|c: char| c.is_alphanumeric() || c == '_');
    if before_word.len() < trimmed.len() {
        return Some(before_word.len());
    }
    Some(trimmed.char_indices().last().map_or(0, |(i, _)| i))
}

/// Where `part`, a slice of `code`, starts in it.
fn offset_in(code: &str, part: &str) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(code.as_ptr() as usize)?;
    (start + part.len() <= code.len()).then_some(start)
}

/// jq 1.6's report of a program that does not compile: each error with
/// its line, padded as jq pads it to the error's column (if it has a
/// place).
fn report(code: &str, errors: Vec<(String, Option<usize>)>) -> String {
    let mut text = String::new();
    for (message, offset) in &errors {
        let Some(offset) = *offset else {
            let _ = writeln!(text, "jq: error: {message}\n");
            continue;
        };
        let start = code[..offset].rfind('\n').map_or(0, |i| i + 1);
        let end = code[offset..].find('\n').map_or(code.len(), |i| offset + i);
        let line = code[..offset].matches('\n').count() + 1;
        let pad = " ".repeat(offset - start);
        let _ = writeln!(
            text,
            "jq: error: {message} at <top-level>, line {line}:\n{}{pad}",
            &code[start..end]
        );
    }
    let plural = if errors.len() == 1 { "" } else { "s" };
    let _ = writeln!(text, "jq: {} compile error{plural}", errors.len());
    text
}

fn funs() -> impl Iterator<Item = native::Fun<Kind>> {
    natives()
        .into_vec()
        .into_iter()
        .map(native::run::<Kind>)
        .chain(jaq_core::funs::<Kind>())
        .chain(jaq_std::funs::<Kind>())
        .chain(jaq_json::funs::<Kind>())
}

/// Filters done as jq 1.6 does them; found before jaq's of the same name.
fn natives() -> Box<[native::Filter<RunPtr<Kind>>]> {
    Box::new([
        ("tostring", v(0), |cv| bome(Ok(to_string(cv.1)))),
        ("@text", v(0), |cv| bome(Ok(to_string(cv.1)))),
        ("tojson", v(0), |cv| bome(Ok(Val::from(compact(&cv.1))))),
        ("@json", v(0), |cv| bome(Ok(Val::from(compact(&cv.1))))),
        ("@csv", v(0), |cv| bome(row(&cv.1, true))),
        ("@tsv", v(0), |cv| bome(row(&cv.1, false))),
        ("join", v(1), |mut cv| {
            let separator = cv.0.pop_var();
            bome(join(&cv.1, &separator))
        }),
        ("from_entries", v(0), |cv| bome(from_entries(&cv.1))),
        ("ltrimstr", v(1), |mut cv| {
            let prefix = cv.0.pop_var();
            bome(Ok(trim(cv.1, &prefix, true)))
        }),
        ("rtrimstr", v(1), |mut cv| {
            let suffix = cv.0.pop_var();
            bome(Ok(trim(cv.1, &suffix, false)))
        }),
        ("input", v(0), input),
        ("inputs", v(0), inputs),
        ("input_filename", v(0), |cv| {
            bome(Ok(cv.0.data().stream.filename()))
        }),
        ("debug_empty", v(0), |cv| {
            eprintln!("[\"DEBUG:\",{}]", compact(&cv.1));
            Box::new(core::iter::empty())
        }),
        ("stderr_empty", v(0), |cv| {
            eprint!("{}", compact(&cv.1));
            Box::new(core::iter::empty())
        }),
        ("halt_error", v(1), halt_error),
    ])
}

fn input<'a>(cv: Cv<'a, Kind>) -> ValXs<'a, Val> {
    let mut inputs = cv.0.data().inputs;
    let next = inputs
        .next()
        .unwrap_or_else(|| Err("No more inputs".into()));
    bome(next.map_err(Error::str))
}

fn inputs<'a>(cv: Cv<'a, Kind>) -> ValXs<'a, Val> {
    let inputs = cv.0.data().inputs;
    Box::new(inputs.map(|next| next.map_err(|e| Exn::from(Error::str(e)))))
}

/// Prints the input as jq 1.6 does (a string as it is, null not at all,
/// anything else as JSON on a line) and ends jq with the exit code given.
fn halt_error<'a>(mut cv: Cv<'a, Kind>) -> ValXs<'a, Val> {
    let Val::Num(code) = cv.0.pop_var() else {
        let message = format!("{} halt_error/1: number required", typed(&cv.1));
        return bome(Err(Error::str(message)));
    };
    match &cv.1 {
        Val::Null => {}
        Val::TStr(s) | Val::BStr(s) => eprint!("{}", String::from_utf8_lossy(&s[..])),
        v => eprintln!("{}", compact(v)),
    }
    box_once(Err(Exn::halt(as_f64(&code) as i32)))
}

fn run(options: &Options, program: &str) -> i32 {
    let names = options
        .named
        .iter()
        .map(|(name, _)| name.as_str())
        .chain(["ARGS", "ENV"]);
    let names: Vec<String> = names.map(|name| format!("${name}")).collect();
    let filter = match compile(program, &names) {
        Ok(filter) => filter,
        Err(report) => {
            eprint!("{report}");
            return 3;
        }
    };
    let mut vars: Vec<Val> = options
        .named
        .iter()
        .map(|(_, value)| value.clone())
        .collect();
    vars.push(args_value(options));
    vars.push(env_value());

    let stream = Stream::new(&options.files);
    let inputs = RcIter::new(stream.inputs(options.raw_input, options.slurp));
    let globals = Globals {
        lut: &filter.lut,
        inputs: &inputs,
        stream: &stream,
    };
    let ctx = Ctx::<Kind>::new(&globals, Vars::new(vars));
    let main_inputs: Box<dyn Iterator<Item = Result<Val, String>> + '_> = if options.null_input {
        Box::new(std::iter::once(Ok(Val::Null)))
    } else {
        Box::new(globals.inputs)
    };

    let out = &mut io::BufWriter::new(io::stdout().lock());
    // jq 1.6's exit code is that of the last input: 0, 5 for an error,
    // 11 for a last output false or null, 14 for no output (the last two
    // are 1 and 4 with -e, 0 without).
    let mut status = 0;
    for input in main_inputs {
        let input = match input {
            Ok(input) => input,
            Err(message) => {
                let _ = out.flush();
                eprintln!("parse error: {message}");
                status = 4;
                break;
            }
        };
        match process(&filter, &ctx, input, options, out) {
            Flow::Next(code) => status = code,
            Flow::Halt(code) => {
                return if out.flush().is_err() {
                    2
                } else {
                    // What the system keeps of an exit code, within what a
                    // tool here may exit with.
                    Some(code & 0xff).filter(|code| *code < 126).unwrap_or(5)
                };
            }
            Flow::Broken => return 2,
        }
    }
    if out.flush().is_err() || stream.unreadable.get() {
        return 2;
    }
    match status {
        11 | 14 if options.exit_status => status - 10,
        11 | 14 => 0,
        status => status,
    }
}

/// How running the program on one input ended.
enum Flow {
    /// On to the next input; jq's status for this one.
    Next(i32),
    /// `halt` or `halt_error`, with the exit code.
    Halt(i32),
    /// Standard output is gone.
    Broken,
}

fn process(
    filter: &jaq_core::Filter<Kind>,
    ctx: &Ctx<'_, Kind>,
    input: Val,
    options: &Options,
    out: &mut impl Write,
) -> Flow {
    let mut status = 14;
    for output in filter.id.run((ctx.clone(), input)) {
        let value = match output {
            Ok(value) => value,
            Err(exception) => {
                return match exception.get_err() {
                    Ok(error) => {
                        let _ = out.flush();
                        // jq 1.6 ends the outputs of `error(null)` quietly.
                        if report_error(error, &ctx.data().stream.position()) {
                            status = 5;
                        }
                        Flow::Next(status)
                    }
                    Err(exception) => Flow::Halt(exception.get_halt().unwrap_or(5)),
                };
            }
        };
        let raw =
            options.raw_output && !options.ascii && matches!(value, Val::TStr(_) | Val::BStr(_));
        status = match value {
            Val::Null | Val::Bool(false) if !raw => 11,
            _ => 0,
        };
        let mut text = String::new();
        match &value {
            Val::TStr(s) | Val::BStr(s) if raw => text.push_str(&String::from_utf8_lossy(&s[..])),
            value => dump(&mut text, value, &options.style(), 0),
        }
        if !options.join_output {
            text.push('\n');
        }
        if out.write_all(text.as_bytes()).is_err() {
            return Flow::Broken;
        }
    }
    Flow::Next(status)
}

/// Prints an error as jq 1.6 does; false for `error(null)`, which jq
/// 1.6 does not report.
fn report_error(error: jaq_json::Error, position: &str) -> bool {
    match error.into_val() {
        Val::Null => false,
        Val::TStr(s) | Val::BStr(s) => {
            let message = String::from_utf8_lossy(&s[..]);
            let message = jq_wording(&message).map_or(message, Cow::Owned);
            eprintln!("jq: error (at {position}): {message}");
            true
        }
        value => {
            eprintln!(
                "jq: error (at {position}) (not a string): {}",
                compact(&value)
            );
            true
        }
    }
}

/// jaq's wording of the errors met most, in jq 1.6's: indexing or
/// iterating a value of the wrong type, arithmetic on the wrong types.
fn jq_wording(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("cannot index ") {
        let (target, index) = two_values(rest, " with ")?;
        return Some(match index {
            Val::TStr(key) => format!(
                "Cannot index {} with string \"{}\"",
                type_name(&target),
                String::from_utf8_lossy(&key[..])
            ),
            index => format!(
                "Cannot index {} with {}",
                type_name(&target),
                type_name(&index)
            ),
        });
    }
    if let Some(rest) = message.strip_prefix("cannot calculate ") {
        let verbs = [
            ("+", "added"),
            ("-", "subtracted"),
            ("*", "multiplied"),
            ("/", "divided"),
        ];
        return verbs.iter().find_map(|(op, verb)| {
            let (l, r) = two_values(rest, &format!(" {op} "))?;
            Some(format!("{} and {} cannot be {verb}", typed(&l), typed(&r)))
        });
    }
    let value = message
        .strip_prefix("cannot use ")?
        .strip_suffix(" as iterable (array or object)")?;
    Some(cannot_iterate(&json_text(value)?))
}

/// `text` as a JSON value, `separator` and another JSON value.
fn two_values(text: &str, separator: &str) -> Option<(Val, Val)> {
    if text.is_empty() {
        return None;
    }
    let (first, end, _) = next_value(text.as_bytes(), 0).ok()?;
    Some((first, json_text(text[end..].strip_prefix(separator)?)?))
}

fn type_name(v: &Val) -> &'static str {
    match v {
        Val::Null => "null",
        Val::Bool(_) => "boolean",
        Val::Num(_) => "number",
        Val::TStr(_) | Val::BStr(_) => "string",
        Val::Arr(_) => "array",
        Val::Obj(_) => "object",
    }
}

/// A value as jq 1.6's messages show it: its type, and its JSON cut to
/// 11 bytes and "..." when longer than 14.
fn typed(v: &Val) -> String {
    let mut json = compact(v);
    if json.len() > 14 {
        let mut end = 11;
        while !json.is_char_boundary(end) {
            end -= 1;
        }
        json.truncate(end);
        json.push_str("...");
    }
    format!("{} ({json})", type_name(v))
}

fn cannot_iterate(v: &Val) -> String {
    format!("Cannot iterate over {}", typed(v))
}

/// The values of an array or object.
fn members(v: &Val) -> Result<Box<dyn Iterator<Item = &Val> + '_>, jaq_json::Error> {
    match v {
        Val::Arr(a) => Ok(Box::new(a.iter())),
        Val::Obj(o) => Ok(Box::new(o.values())),
        v => Err(Error::str(cannot_iterate(v))),
    }
}

fn to_string(v: Val) -> Val {
    match v {
        Val::TStr(_) => v,
        v => Val::from(compact(&v)),
    }
}

/// `@csv` (`csv`) or `@tsv`, as jq 1.6 writes them.
fn row(v: &Val, csv: bool) -> ValR {
    let Val::Arr(items) = v else {
        let format = if csv { "csv" } else { "tsv" };
        return Err(Error::str(format!(
            "{} cannot be {format}-formatted, only array",
            typed(v)
        )));
    };
    let mut line = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            line.push(if csv { ',' } else { '\t' });
        }
        match item {
            Val::Null => {}
            // NaN, which jq prints as null, is an empty field.
            Val::Num(n) if as_f64(n).is_nan() => {}
            Val::Bool(_) | Val::Num(_) => dump(&mut line, item, &COMPACT, 0),
            Val::TStr(s) | Val::BStr(s) if csv => {
                line.push('"');
                line.push_str(&String::from_utf8_lossy(&s[..]).replace('"', "\"\""));
                line.push('"');
            }
            Val::TStr(s) | Val::BStr(s) => {
                for c in String::from_utf8_lossy(&s[..]).chars() {
                    match c {
                        '\\' => line.push_str("\\\\"),
                        '\t' => line.push_str("\\t"),
                        '\n' => line.push_str("\\n"),
                        '\r' => line.push_str("\\r"),
                        c => line.push(c),
                    }
                }
            }
            // jq 1.6 says "csv" for `@tsv` too.
            item => {
                return Err(Error::str(format!(
                    "{} is not valid in a csv row",
                    typed(item)
                )));
            }
        }
    }
    Ok(Val::from(line))
}

/// jq 1.6's `join`: null joins as "", booleans and numbers as JSON;
/// arrays and objects cannot be added to a string.
fn join(v: &Val, separator: &Val) -> ValR {
    let cannot_add = |line: String, other: &Val| {
        Error::str(format!(
            "{} and {} cannot be added",
            typed(&Val::from(line)),
            typed(other)
        ))
    };
    let mut joined: Option<String> = None;
    for item in members(v)? {
        let mut line = match joined.take() {
            None => String::new(),
            Some(mut line) => {
                match separator {
                    Val::Null => {}
                    Val::TStr(s) | Val::BStr(s) => line.push_str(&String::from_utf8_lossy(&s[..])),
                    other => return Err(cannot_add(line, other)),
                }
                line
            }
        };
        match item {
            Val::Null => {}
            Val::TStr(s) | Val::BStr(s) => line.push_str(&String::from_utf8_lossy(&s[..])),
            Val::Bool(_) | Val::Num(_) => dump(&mut line, item, &COMPACT, 0),
            other => return Err(cannot_add(line, other)),
        }
        joined = Some(line);
    }
    Ok(Val::from(joined.unwrap_or_default()))
}

/// jq 1.6's `from_entries`: the key is the first of `key`, `name`,
/// `Name`, `Key` that is neither null nor false, and must be a string;
/// the value is `value`.
fn from_entries(v: &Val) -> ValR {
    let mut map = Map::default();
    for entry in members(v)? {
        let Val::Obj(fields) = entry else {
            return Err(Error::str(format!(
                "Cannot index {} with \"key\"",
                type_name(entry)
            )));
        };
        let field = |name: &str| fields.get(&Val::from(name.to_string())).cloned();
        let key = ["key", "name", "Name", "Key"]
            .iter()
            .filter_map(|&name| field(name))
            .find(|k| !matches!(k, Val::Null | Val::Bool(false)));
        let key = match key {
            Some(key @ Val::TStr(_)) => key,
            key => {
                let key = key.unwrap_or(Val::Null);
                return Err(Error::str(format!(
                    "Cannot use {} as object key",
                    typed(&key)
                )));
            }
        };
        map.insert(key, field("value").unwrap_or(Val::Null));
    }
    Ok(Val::obj(map))
}

/// `ltrimstr` (`prefix`) or `rtrimstr`: anything but a string, or a
/// string that does not start or end so, is left as it is.
fn trim(v: Val, affix: &Val, prefix: bool) -> Val {
    if let (Val::TStr(s), Val::TStr(affix)) = (&v, affix) {
        let affix = &affix[..];
        if prefix && s.starts_with(affix) {
            return Val::utf8_str(s.slice(affix.len()..));
        }
        if !prefix && s.ends_with(affix) {
            return Val::utf8_str(s.slice(..s.len() - affix.len()));
        }
    }
    v
}

/// `$ARGS`.
fn args_value(options: &Options) -> Val {
    let named = options
        .named
        .iter()
        .map(|(name, value)| (Val::from(name.clone()), value.clone()));
    let fields = [
        (
            Val::from("positional".to_string()),
            options.positional.iter().cloned().collect(),
        ),
        (Val::from("named".to_string()), Val::obj(named.collect())),
    ];
    Val::obj(fields.into_iter().collect())
}

/// `$ENV`.
fn env_value() -> Val {
    let lossy = |s: OsString| Val::from(s.to_string_lossy().into_owned());
    Val::obj(
        std::env::vars_os()
            .map(|(k, v)| (lossy(k), lossy(v)))
            .collect(),
    )
}

/// How values print: jq 1.6's layout.
struct Style<'o> {
    /// One level of indentation; `None`: all on one line.
    indent: Option<&'o str>,
    sort_keys: bool,
    ascii: bool,
}

/// As `tojson` and error messages print values.
const COMPACT: Style<'static> = Style {
    indent: None,
    sort_keys: false,
    ascii: false,
};

fn compact(v: &Val) -> String {
    let mut text = String::new();
    dump(&mut text, v, &COMPACT, 0);
    text
}

fn dump(out: &mut String, v: &Val, style: &Style, level: usize) {
    let newline = |out: &mut String, level: usize| {
        if let Some(indent) = style.indent {
            out.push('\n');
            (0..level).for_each(|_| out.push_str(indent));
        }
    };
    match v {
        Val::Null => out.push_str("null"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Num(n) => push_number(out, n),
        Val::TStr(s) | Val::BStr(s) => push_string(out, &s[..], style.ascii),
        Val::Arr(a) if a.is_empty() => out.push_str("[]"),
        Val::Obj(o) if o.is_empty() => out.push_str("{}"),
        Val::Arr(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level + 1);
                dump(out, item, style, level + 1);
            }
            newline(out, level);
            out.push(']');
        }
        Val::Obj(o) => {
            let mut fields: Vec<(&Val, &Val)> = o.iter().collect();
            if style.sort_keys {
                fields.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (key, value)) in fields.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level + 1);
                dump(out, key, style, level + 1);
                out.push(':');
                if style.indent.is_some() {
                    out.push(' ');
                }
                dump(out, value, style, level + 1);
            }
            newline(out, level);
            out.push('}');
        }
    }
}

fn push_string(out: &mut String, bytes: &[u8], ascii: bool) {
    out.push('"');
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' || c == '\u{7f}' || (ascii && !c.is_ascii()) => {
                for unit in c.encode_utf16(&mut [0; 2]).iter() {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// jq 1.6 has only doubles.
fn as_f64(n: &Num) -> f64 {
    match n {
        Num::Int(i) => *i as f64,
        Num::BigInt(i) => i.to_string().parse().unwrap_or(f64::NAN),
        Num::Float(f) => *f,
        Num::Dec(s) => s.parse().unwrap_or(f64::NAN),
    }
}

/// A number as jq 1.6 prints it: the shortest digits that read back,
/// in exponent form below 1e-4 or past 15 zeros after the digits,
/// infinities as the largest doubles, NaN as null.
fn push_number(out: &mut String, n: &Num) {
    if let Num::Int(i) = n
        && (*i as f64).abs() < 1e15
    {
        let _ = write!(out, "{i}");
        return;
    }
    let f = as_f64(n);
    if f.is_nan() {
        out.push_str("null");
        return;
    }
    let scientific = format!("{:e}", f.clamp(f64::MIN, f64::MAX));
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if let Some(rest) = mantissa.strip_prefix('-') {
        out.push('-');
        push_digits(out, &rest.replace('.', ""), exponent);
    } else {
        push_digits(out, &mantissa.replace('.', ""), exponent);
    }
}

/// `digits` with the decimal point after the first, times 10^`exponent`.
fn push_digits(out: &mut String, digits: &str, exponent: i32) {
    let count = digits.len() as i32;
    let point = exponent + 1;
    if point <= -4 || point > count + 15 {
        out.push_str(&digits[..1]);
        if count > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.abs()
        );
    } else if point <= 0 {
        out.push_str("0.");
        (0..-point).for_each(|_| out.push('0'));
        out.push_str(digits);
    } else if point >= count {
        out.push_str(digits);
        (0..point - count).for_each(|_| out.push('0'));
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
}

/// The value with its decimals replaced: integral ones by integers (jq
/// 1.6 indexes arrays with them and prints them without a fraction,
/// also in strings), the others by doubles.
fn normalized(mut v: Val) -> Val {
    normalize(&mut v);
    v
}

fn normalize(v: &mut Val) {
    match v {
        Val::Num(Num::Dec(s)) => {
            let f = s.parse().unwrap_or(f64::NAN);
            *v = number(f);
        }
        Val::Arr(a) => Rc::make_mut(a).iter_mut().for_each(normalize),
        Val::Obj(o) => Rc::make_mut(o).values_mut().for_each(normalize),
        _ => {}
    }
}

fn number(f: f64) -> Val {
    if f.fract() == 0.0
        && f.abs() < 1e17
        && let Some(n) = Num::from_str_radix(&format!("{}", f as i64), 10)
    {
        return Val::Num(n);
    }
    Val::from(f)
}

/// The input, every file after the other in one buffer (jq 1.6 parses
/// them as one stream), read on first use.
struct Stream<'f> {
    files: &'f [String],
    text: OnceCell<Text>,
    /// Where the value read last was complete, for error positions.
    at: Cell<Option<usize>>,
    /// A file could not be read (exit 2).
    unreadable: Cell<bool>,
}

#[derive(Default)]
struct Text {
    bytes: Vec<u8>,
    /// Where each file starts, and its name (`None`: standard input).
    sources: Vec<(usize, Option<String>)>,
}

impl<'f> Stream<'f> {
    fn new(files: &'f [String]) -> Self {
        Stream {
            files,
            text: OnceCell::new(),
            at: Cell::new(None),
            unreadable: Cell::new(false),
        }
    }

    fn text(&self) -> &Text {
        self.text.get_or_init(|| {
            let mut text = Text::default();
            let stdin = ["-".to_string()];
            let files = if self.files.is_empty() {
                &stdin[..]
            } else {
                self.files
            };
            for file in files {
                let read = if file == "-" {
                    let mut bytes = Vec::new();
                    io::stdin().lock().read_to_end(&mut bytes).map(|_| bytes)
                } else {
                    std::fs::read(file)
                };
                match read {
                    Ok(bytes) => {
                        text.sources
                            .push((text.bytes.len(), (file != "-").then(|| file.clone())));
                        text.bytes.extend_from_slice(&bytes);
                    }
                    Err(e) => {
                        eprintln!(
                            "jq: error: Could not open file {file}: {}",
                            crate::io_error::describe(&e)
                        );
                        self.unreadable.set(true);
                    }
                }
            }
            text
        })
    }

    /// The input values: JSON values, lines (`-R`), all values in one
    /// array (`-s`) or all the input in one string (`-R -s`).
    fn inputs(&self, raw: bool, slurp: bool) -> Box<dyn Iterator<Item = Result<Val, String>> + '_> {
        let at = &self.at;
        let text = std::iter::once_with(move || self.text());
        match (raw, slurp) {
            (false, false) => Box::new(text.flat_map(move |text| Values::new(text, at))),
            (true, false) => Box::new(text.flat_map(move |text| Lines { text, at, pos: 0 })),
            (false, true) => Box::new(text.map(move |text| -> Result<Val, String> {
                let values = Values::new(text, at).collect::<Result<Vec<Val>, _>>()?;
                at.set(Some(text.bytes.len()));
                Ok(values.into_iter().collect())
            })),
            (true, true) => Box::new(text.map(move |text| -> Result<Val, String> {
                at.set(Some(text.bytes.len()));
                Ok(Val::from(String::from_utf8_lossy(&text.bytes).into_owned()))
            })),
        }
    }

    /// Where the value read last is, as jq 1.6 says it: the file, and
    /// how many lines of it had been read when the value was complete.
    fn position(&self) -> String {
        let (Some(at), Some(text)) = (self.at.get(), self.text.get()) else {
            return "<unknown>".into();
        };
        let Some(i) = text.source_at(at) else {
            return "<unknown>".into();
        };
        let (start, name) = &text.sources[i];
        let end = text
            .sources
            .get(i + 1)
            .map_or(text.bytes.len(), |(next, _)| *next);
        let line_end = text.bytes[at..end]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(end, |n| at + n + 1);
        let lines = text.bytes[*start..line_end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        format!("{}:{lines}", name.as_deref().unwrap_or("<stdin>"))
    }

    /// `input_filename`: the file of the value read last, null for
    /// standard input.
    fn filename(&self) -> Val {
        let (Some(at), Some(text)) = (self.at.get(), self.text.get()) else {
            return Val::Null;
        };
        let name = text.source_at(at).and_then(|i| text.sources[i].1.clone());
        name.map_or(Val::Null, Val::from)
    }
}

impl Text {
    fn source_at(&self, at: usize) -> Option<usize> {
        self.sources.iter().rposition(|(start, _)| *start <= at)
    }

    /// A parse error as jq 1.6 words it, with its line and column.
    fn describe(&self, bad: &Bad) -> String {
        let before = &self.bytes[..bad.at];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let eof = if bad.eof { " at EOF" } else { "" };
        format!(
            "{}{eof} at line {line}, column {}",
            bad.what,
            bad.at - line_start
        )
    }
}

/// A parse error: what, where (after the offending character, as jq 1.6
/// counts), and whether the input ended first.
struct Bad {
    what: String,
    at: usize,
    eof: bool,
}

impl Bad {
    fn at(at: usize, what: &str) -> Self {
        Bad {
            what: what.into(),
            at,
            eof: false,
        }
    }

    fn eof(bytes: &[u8], what: &str) -> Self {
        Bad {
            what: what.into(),
            at: bytes.len(),
            eof: true,
        }
    }
}

/// The JSON values of a text, up to the first that does not parse.
struct Values<'t> {
    text: &'t Text,
    at: &'t Cell<Option<usize>>,
    pos: usize,
    failed: bool,
}

impl<'t> Values<'t> {
    fn new(text: &'t Text, at: &'t Cell<Option<usize>>) -> Self {
        Values {
            text,
            at,
            pos: 0,
            failed: false,
        }
    }
}

impl Iterator for Values<'_> {
    type Item = Result<Val, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let bytes = &self.text.bytes;
        let start =
            (self.pos..bytes.len()).find(|&i| !matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r'))?;
        Some(match next_value(bytes, start) {
            Ok((value, end, complete)) => {
                self.pos = end;
                self.at.set(Some(complete));
                Ok(value)
            }
            Err(bad) => {
                self.failed = true;
                Err(self.text.describe(&bad))
            }
        })
    }
}

/// The JSON value at `start`: the value, where it ends, and where jq 1.6
/// sees it complete (its closing bracket or quote, or the character
/// after a number or literal).
fn next_value(bytes: &[u8], start: usize) -> Result<(Val, usize, usize), Bad> {
    let string_end =
        |open| string_end(bytes, open).ok_or_else(|| Bad::eof(bytes, "Unfinished string"));
    match bytes[start] {
        b'"' => {
            let close = string_end(start)?;
            Ok((parse_json(bytes, start, close + 1)?, close + 1, close))
        }
        b'[' | b'{' => {
            let mut depth = 0usize;
            let mut i = start;
            loop {
                match bytes.get(i) {
                    None => return Err(Bad::eof(bytes, "Unfinished JSON term")),
                    Some(b'"') => i = string_end(i)?,
                    Some(b'[' | b'{') => depth += 1,
                    Some(b']' | b'}') => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok((parse_json(bytes, start, i + 1)?, i + 1, i));
                        }
                    }
                    Some(_) => {}
                }
                i += 1;
            }
        }
        b']' => Err(Bad::at(start + 1, "Unmatched ']'")),
        b'}' => Err(Bad::at(start + 1, "Unmatched '}'")),
        b',' => Err(Bad::at(start + 1, "Expected value before ','")),
        b':' => Err(Bad::at(start + 1, "':' not as part of an object")),
        first => {
            let end = bytes[start..]
                .iter()
                .position(is_delimiter)
                .map_or(bytes.len(), |n| start + n);
            let what = if matches!(first, b't' | b'f' | b'n') {
                "Invalid literal"
            } else {
                "Invalid numeric literal"
            };
            match scalar(&bytes[start..end]) {
                Some(value) => Ok((value, end, end)),
                None if end == bytes.len() => Err(Bad::eof(bytes, what)),
                None => Err(Bad::at(end + 1, what)),
            }
        }
    }
}

/// A number or a literal. jq 1.6 reads numbers with strtod, which takes
/// `01`, `1.` and `.5` too.
fn scalar(token: &[u8]) -> Option<Val> {
    if let Ok(value) = jaq_json::read::parse_single(token) {
        return Some(normalized(value));
    }
    if matches!(token.first(), Some(b't' | b'f' | b'n')) {
        return None;
    }
    std::str::from_utf8(token).ok()?.parse().ok().map(number)
}

/// Where the string opening at `open` closes.
fn string_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn is_delimiter(b: &u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\n' | b'\r' | b'[' | b']' | b'{' | b'}' | b',' | b':' | b'"'
    )
}

/// Where jq 1.6 has read the token at `at` whole: past a closing quote,
/// past the character after a number or literal.
fn token_end(bytes: &[u8], at: usize) -> usize {
    let end = match bytes.get(at) {
        Some(b'"') => string_end(bytes, at),
        Some(b) if !is_delimiter(b) => bytes[at..].iter().position(is_delimiter).map(|n| at + n),
        _ => Some(at),
    };
    end.map_or(bytes.len(), |end| (end + 1).min(bytes.len()))
}

/// jaq's report of a bad array or object, in jq 1.6's words: what is
/// wrong at `at`.
fn bad_json(bytes: &[u8], at: usize, what: &str) -> Bad {
    let before = bytes[..at].iter().rev().find(|b| !b.is_ascii_whitespace());
    let (what, at) = match (what, bytes.get(at)) {
        ("value expected", Some(b']')) => ("Expected another array element", at + 1),
        ("value expected", Some(b'}')) if before == Some(&b',') => {
            ("Expected another key-value pair", at + 1)
        }
        ("value expected", Some(b'}')) => ("Unmatched '}'", at + 1),
        ("value expected", Some(b',')) => ("Expected value before ','", at + 1),
        ("value expected", Some(b't' | b'f' | b'n')) => ("Invalid literal", token_end(bytes, at)),
        ("value expected" | "expected digit", Some(_)) => {
            ("Invalid numeric literal", token_end(bytes, at))
        }
        ("colon expected", Some(b'}' | b','))
        | ("comma or end of sequence expected", Some(b'}')) => {
            ("Objects must consist of key:value pairs", at + 1)
        }
        ("colon expected" | "comma or end of sequence expected", Some(_)) => {
            ("Expected separator between values", token_end(bytes, at))
        }
        (what, _) if what.starts_with("invalid escape") => ("Invalid escape", at + 1),
        (what, _) => (what, at + 1),
    };
    Bad::at(at.min(bytes.len()), what)
}

/// An array or object or string between `start` and `end`.
fn parse_json(bytes: &[u8], start: usize, end: usize) -> Result<Val, Bad> {
    jaq_json::read::parse_single(&bytes[start..end])
        .map(normalized)
        .map_err(|e| {
            // jaq_json says "byte offset N: what".
            let message = e.to_string();
            let located = message
                .strip_prefix("byte offset ")
                .and_then(|rest| rest.split_once(": "));
            match located.and_then(|(offset, what)| Some((offset.parse::<usize>().ok()?, what))) {
                Some((offset, what)) => bad_json(&bytes[..end], start + offset, what),
                None => Bad::at(end, &message),
            }
        })
}

/// The lines of a text (`-R`), without their newlines.
struct Lines<'t> {
    text: &'t Text,
    at: &'t Cell<Option<usize>>,
    pos: usize,
}

impl Iterator for Lines<'_> {
    type Item = Result<Val, String>;

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = &self.text.bytes;
        if self.pos >= bytes.len() {
            return None;
        }
        let end = bytes[self.pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |n| self.pos + n);
        let line = String::from_utf8_lossy(&bytes[self.pos..end]).into_owned();
        self.at.set(Some(end));
        self.pos = end + 1;
        Some(Ok(Val::from(line)))
    }
}
