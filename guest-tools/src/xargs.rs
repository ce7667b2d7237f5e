//! `xargs`: builds command lines from its input and runs them, as GNU
//! xargs does, but only cordon's own tools, in this same program: a WASI
//! guest cannot start a process. A command that is not one of them is
//! refused with a line saying how to run it natively, exit 1 (GNU's 127
//! for a command not found is past what a WASIp1 program may exit with).
//!
//! Options: `-0`, `-d DELIM`, `-n MAX`, `-L MAX`, `-I REPL` (`-i`), `-r`,
//! `-t`, `-P N` (accepted; commands run one after the other), `-x`, `--`.
//! The whole input is read before the first command runs, so a command
//! reading stdin finds it at its end, as it would find /dev/null.

use std::ffi::OsString;
use std::io::{self, Read, Write};

/// How the input is split into arguments.
enum Split {
    /// Blanks and newlines, with quotes and backslashes (GNU's default).
    Blanks,
    /// One delimiter byte (`-0`, `-d`).
    Delimiter(u8),
}

struct Options {
    split: Split,
    max_args: Option<usize>,
    max_lines: Option<usize>,
    replace: Option<String>,
    no_run_if_empty: bool,
    trace: bool,
    command: Vec<String>,
}

pub fn main(args: Vec<OsString>) -> i32 {
    let options = match parse(args) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("xargs: {why}");
            return 1;
        }
    };
    let Some(tool) = crate::find_tool(options.command[0].as_ref()) else {
        eprintln!(
            "xargs: {}: not one of cordon's tools; xargs here runs only those (cordon tools \
             lists them). Run the line natively: cordon run --engine native -- xargs ...",
            options.command[0]
        );
        return 1;
    };
    // uutils tools look their messages up under the program's name once
    // per process: under the tool's, as if it ran alone.
    let _ = uucore::locale::setup_localization(tool.0);
    let mut input = Vec::new();
    if let Err(e) = io::stdin().read_to_end(&mut input) {
        eprintln!("xargs: reading standard input: {e}");
        return 1;
    }
    let items = match &options.split {
        Split::Blanks => match split_blanks(&input) {
            Ok(items) => items,
            Err(why) => {
                eprintln!("xargs: {why}");
                return 1;
            }
        },
        Split::Delimiter(d) => split_on(&input, *d),
    };
    let runs = batches(&options, &items);
    if runs.is_empty() && !options.no_run_if_empty && options.replace.is_none() {
        return run(tool, &options, options.command.clone());
    }
    let mut code = 0;
    for argv in runs {
        match run(tool, &options, argv) {
            0 => {}
            255 => {
                eprintln!(
                    "xargs: {}: exited with status 255; aborting",
                    options.command[0]
                );
                return 124;
            }
            _ => code = 123,
        }
    }
    code
}

/// Runs `tool` with `argv` in this program, as its own entry would.
fn run(tool: &crate::Tool, options: &Options, argv: Vec<String>) -> i32 {
    if options.trace {
        eprintln!("{}", argv.join(" "));
    }
    // uutils keeps the exit code of non-fatal errors in a static.
    uucore::error::set_exit_code(0);
    let code = (tool.2)(argv.into_iter().map(OsString::from).collect());
    let _ = io::stdout().flush();
    code
}

/// The command lines to run, each as its whole argv.
fn batches(options: &Options, items: &[(String, usize)]) -> Vec<Vec<String>> {
    if let Some(replace) = &options.replace {
        // One command per input line, the line put for every REPL.
        return items
            .iter()
            .map(|(item, _)| {
                options
                    .command
                    .iter()
                    .map(|word| word.replace(replace.as_str(), item))
                    .collect()
            })
            .collect();
    }
    let mut runs = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut lines = 0;
    let mut last_line = usize::MAX;
    for (item, line) in items {
        if *line != last_line {
            lines += 1;
            last_line = *line;
        }
        let full_args = options.max_args.is_some_and(|max| current.len() >= max);
        let full_lines = options
            .max_lines
            .is_some_and(|max| lines > max && !current.is_empty());
        if full_args || full_lines {
            runs.push(std::mem::take(&mut current));
            lines = 1;
        }
        current.push(item.clone());
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs.into_iter()
        .map(|args| options.command.iter().cloned().chain(args).collect())
        .collect()
}

/// Splits on blanks and newlines; quotes and backslashes as GNU xargs
/// reads them. Each item carries the number of the line it ends on.
fn split_blanks(input: &[u8]) -> Result<Vec<(String, usize)>, String> {
    let text = String::from_utf8_lossy(input);
    let mut items = Vec::new();
    let mut current = String::new();
    let mut in_item = false;
    let mut line = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\n' | ' ' | '\t' => {
                if in_item {
                    items.push((std::mem::take(&mut current), line));
                    in_item = false;
                }
                if c == '\n' {
                    line += 1;
                }
            }
            '\'' | '"' => {
                in_item = true;
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\n') | None => {
                            let kind = if c == '"' { "double" } else { "single" };
                            return Err(format!(
                                "unmatched {kind} quote; by default quotes are special to \
                                 xargs unless you use the -0 option"
                            ));
                        }
                        Some(other) => current.push(other),
                    }
                }
            }
            '\\' => {
                in_item = true;
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            other => {
                in_item = true;
                current.push(other);
            }
        }
    }
    if in_item {
        items.push((current, line));
    }
    Ok(items)
}

/// Splits on one delimiter byte; a last empty item (the input ends with
/// it) does not count.
fn split_on(input: &[u8], delimiter: u8) -> Vec<(String, usize)> {
    let mut parts: Vec<&[u8]> = input.split(|b| *b == delimiter).collect();
    if parts.last().is_some_and(|last| last.is_empty()) {
        parts.pop();
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(n, part)| (String::from_utf8_lossy(part).into_owned(), n))
        .collect()
}

fn parse(args: Vec<OsString>) -> Result<Options, String> {
    let mut options = Options {
        split: Split::Blanks,
        max_args: None,
        max_lines: None,
        replace: None,
        no_run_if_empty: false,
        trace: false,
        command: Vec::new(),
    };
    let mut words = args.into_iter().skip(1).map(|a| {
        a.into_string()
            .map_err(|_| "arguments must be UTF-8".to_string())
    });
    let number = |flag: &str, value: Option<String>| -> Result<usize, String> {
        let value = value.ok_or_else(|| format!("option requires an argument -- '{flag}'"))?;
        value
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("invalid number \"{value}\" for -{flag} option"))
    };
    while let Some(word) = words.next() {
        let word = word?;
        let mut value = |inline: &str| -> Result<Option<String>, String> {
            if inline.is_empty() {
                words.next().transpose()
            } else {
                Ok(Some(inline.to_string()))
            }
        };
        match word.as_str() {
            "--" => break,
            "-0" | "--null" => options.split = Split::Delimiter(0),
            "-r" | "--no-run-if-empty" => options.no_run_if_empty = true,
            "-t" | "--verbose" => options.trace = true,
            "-x" | "--exit" => {}
            "-i" => options.replace = Some("{}".into()),
            w if w.starts_with("-d") => {
                let delim = value(&w[2..])?.ok_or("option requires an argument -- 'd'")?;
                options.split = Split::Delimiter(delimiter(&delim)?);
            }
            w if w.starts_with("-n") => options.max_args = Some(number("n", value(&w[2..])?)?),
            w if w.starts_with("-L") => options.max_lines = Some(number("L", value(&w[2..])?)?),
            w if w.starts_with("-P") => {
                number("P", value(&w[2..])?)?;
            }
            w if w.starts_with("-I") => {
                options.replace =
                    Some(value(&w[2..])?.ok_or("option requires an argument -- 'I'")?);
            }
            w if w.starts_with('-') && w.len() > 1 => {
                return Err(format!("unsupported option '{w}' (cordon's xargs)"));
            }
            _ => {
                options.command.push(word);
                break;
            }
        }
    }
    for word in words {
        options.command.push(word?);
    }
    if options.command.is_empty() {
        options.command.push("echo".into());
    }
    Ok(options)
}

/// A `-d` delimiter: one character, or `\n`, `\t`, `\0`, `\\`.
fn delimiter(text: &str) -> Result<u8, String> {
    match text {
        "\\n" => Ok(b'\n'),
        "\\t" => Ok(b'\t'),
        "\\0" => Ok(0),
        "\\\\" => Ok(b'\\'),
        t if t.len() == 1 => Ok(t.as_bytes()[0]),
        t => Err(format!(
            "invalid input delimiter specification {t}: the delimiter must be a single character"
        )),
    }
}
