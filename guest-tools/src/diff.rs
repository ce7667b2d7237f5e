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
        Format::Normal => normal_diff::diff(from, to, &params),
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
