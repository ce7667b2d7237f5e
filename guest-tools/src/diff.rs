//! `diff` and `cmp` from uutils diffutils. The library exposes `cmp` whole
//! and the diff formats one by one; this drives them the way GNU diff is
//! invoked: exit 0 when the inputs are the same, 1 when they differ, 2 on
//! trouble.

use std::ffi::OsString;
use std::io::{Read, Write};

use diffutilslib::params::{Format, parse_params};
use diffutilslib::{context_diff, ed_diff, normal_diff, side_diff, unified_diff};

pub fn cmp_main(_args: Vec<OsString>) -> i32 {
    // The library's entry point reads the process arguments itself; skip the
    // multi-call name when it is not argv[0].
    let mut args = std::env::args_os().peekable();
    if args
        .peek()
        .is_some_and(|a| !a.to_string_lossy().ends_with("cmp"))
    {
        args.next();
    }
    let code = diffutilslib::cmp::main(args);
    // ExitCode is opaque; GNU cmp's codes are 0 same, 1 differ, 2 trouble.
    if code == std::process::ExitCode::SUCCESS {
        0
    } else if code == std::process::ExitCode::from(1) {
        1
    } else {
        2
    }
}

/// diffutils 0.6 prints a one-line range as `5,5`; GNU prints `5`. Rewrites
/// the change commands (`2a3,3`) and leaves the `<`/`>` lines alone.
fn gnu_ranges(normal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(normal.len());
    for line in normal.split_inclusive(|b| *b == b'\n') {
        let command = line.first().is_some_and(u8::is_ascii_digit);
        match std::str::from_utf8(line).ok().filter(|_| command) {
            Some(text) => {
                let body = text.trim_end_matches('\n');
                let split = body.find(['a', 'c', 'd']).unwrap_or(body.len());
                let (left, right) = body.split_at(split);
                let fold = |range: &str| match range.split_once(',') {
                    Some((a, b)) if a == b => a.to_string(),
                    _ => range.to_string(),
                };
                let (op, right) = right.split_at(right.len().min(1));
                out.extend_from_slice(format!("{}{op}{}", fold(left), fold(right)).as_bytes());
                out.extend_from_slice(&line[body.len()..]);
            }
            None => out.extend_from_slice(line),
        }
    }
    out
}

fn read_input(path: &OsString) -> std::io::Result<Vec<u8>> {
    if path == "-" {
        let mut content = Vec::new();
        std::io::stdin().read_to_end(&mut content)?;
        Ok(content)
    } else {
        std::fs::read(path)
    }
}

pub fn diff_main(args: Vec<OsString>) -> i32 {
    let params = match parse_params(args.into_iter().peekable()) {
        Ok(params) => params,
        Err(message) => {
            eprintln!("{message}");
            return 2;
        }
    };
    let mut contents = Vec::with_capacity(2);
    for path in [&params.from, &params.to] {
        match read_input(path) {
            Ok(content) => contents.push(content),
            Err(err) => {
                diffutilslib::utils::report_failure_to_read_input_file(
                    &params.executable,
                    path,
                    &err,
                );
                return 2;
            }
        }
    }
    let (from, to) = (&contents[0], &contents[1]);
    let mut stdout = std::io::stdout().lock();
    let output = match params.format {
        Format::Normal => gnu_ranges(&normal_diff::diff(from, to, &params)),
        Format::Unified => unified_diff::diff(from, to, &params),
        Format::Context => context_diff::diff(from, to, &params),
        Format::Ed => match ed_diff::diff(from, to, &params) {
            Ok(output) => output,
            Err(err) => {
                eprintln!("{err}");
                return 2;
            }
        },
        Format::SideBySide => {
            let mut output = Vec::new();
            side_diff::diff(from, to, &mut output, &params);
            output
        }
    };
    let same = output.is_empty();
    let written = if params.brief && !same {
        writeln!(
            stdout,
            "Files {} and {} differ",
            params.from.to_string_lossy(),
            params.to.to_string_lossy()
        )
    } else if same && params.report_identical_files {
        writeln!(
            stdout,
            "Files {} and {} are identical",
            params.from.to_string_lossy(),
            params.to.to_string_lossy()
        )
    } else {
        stdout.write_all(&output)
    };
    match written {
        Err(_) => 2,
        Ok(()) if same => 0,
        Ok(()) => 1,
    }
}
