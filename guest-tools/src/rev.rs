//! `rev`: every line with its characters in reverse order, as util-linux
//! rev: by character under a UTF-8 locale, by byte otherwise (the C
//! locale, which a guest has unless `LANG`/`LC_ALL`/`LC_CTYPE` say UTF-8).

use std::ffi::OsString;
use std::io::{self, BufRead, Write};

pub fn main(args: Vec<OsString>) -> i32 {
    let files: Vec<OsString> = args.into_iter().skip(1).collect();
    let by_char = utf8_locale();
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut code = 0;
    let inputs: Vec<Option<OsString>> = if files.is_empty() {
        vec![None]
    } else {
        files.into_iter().map(Some).collect()
    };
    for input in inputs {
        let reader: Box<dyn BufRead> = match &input {
            None => Box::new(io::stdin().lock()),
            Some(name) => match std::fs::File::open(name) {
                Ok(file) => Box::new(io::BufReader::new(file)),
                Err(e) => {
                    let _ = out.flush();
                    eprintln!(
                        "rev: cannot open {}: {}",
                        name.to_string_lossy(),
                        crate::io_error::describe(&e)
                    );
                    code = 1;
                    continue;
                }
            },
        };
        if reverse_lines(reader, &mut out, by_char).is_err() {
            return 1;
        }
    }
    if out.flush().is_err() {
        return 1;
    }
    code
}

fn reverse_lines(mut reader: impl BufRead, out: &mut impl Write, by_char: bool) -> io::Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let newline = line.last() == Some(&b'\n');
        let body = &line[..line.len() - usize::from(newline)];
        match std::str::from_utf8(body) {
            Ok(text) if by_char => {
                out.write_all(text.chars().rev().collect::<String>().as_bytes())?
            }
            _ => out.write_all(&body.iter().rev().copied().collect::<Vec<u8>>())?,
        }
        if newline {
            out.write_all(b"\n")?;
        }
    }
}

/// Whether the locale's character set is UTF-8, as GNU tools decide it.
pub fn utf8_locale() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .is_some_and(|value| {
            let value = value.to_ascii_lowercase();
            value.contains("utf-8") || value.contains("utf8")
        })
}
