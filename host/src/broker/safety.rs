//! Which commands are known to be safe to run unasked, judged by the
//! command and its flags, and which always ask.
//!
//! Known-safe means read-only whatever the arguments: `find` with -exec,
//! -delete or -fprint, `sort -o`, `uniq IN OUT`, `date -s` are not. `sed` is
//! never known-safe (its scripts can write and execute: `w`, `e`), nor is
//! anything that writes (`cp`, `tee`, `touch`, ...).

use std::path::Path;

use crate::shell::git;

/// Commands that only read their inputs and write to stdout, unless one of
/// the flags [`writes`] looks for is present.
const READ_ONLY: &[&str] = &[
    "base64",
    "basename",
    "cat",
    "cmp",
    "cut",
    "date",
    "diff",
    "dirname",
    "echo",
    "false",
    "find",
    "grep",
    "head",
    "ls",
    "printf",
    "pwd",
    "realpath",
    "seq",
    "sha256sum",
    "sleep",
    "sort",
    "tail",
    "test",
    "[",
    "tr",
    "true",
    "uniq",
    "wc",
];

fn name(argv: &[String]) -> &str {
    argv.first()
        .and_then(|w| Path::new(w).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("")
}

/// Whether a short-flag cluster (`-rf`) or a long flag names `short` or
/// `long` (also as `--long=value`).
fn has_flag(args: &[String], short: &[char], long: &[&str]) -> bool {
    args.iter().take_while(|a| *a != "--").any(|arg| {
        if let Some(flag) = arg.strip_prefix("--") {
            // GNU tools take any unambiguous prefix: `--o` is `--output`.
            let flag = flag.split('=').next().unwrap_or(flag);
            !flag.is_empty() && long.iter().any(|l| l.starts_with(flag))
        } else if let Some(cluster) = arg.strip_prefix('-') {
            cluster.chars().any(|c| short.contains(&c))
        } else {
            false
        }
    })
}

/// Whether the arguments make a read-only command write or run something.
fn writes(command: &str, args: &[String]) -> bool {
    match command {
        "find" => args.iter().any(|a| {
            matches!(
                a.as_str(),
                "-exec"
                    | "-execdir"
                    | "-ok"
                    | "-okdir"
                    | "-delete"
                    | "-fprint"
                    | "-fprint0"
                    | "-fprintf"
                    | "-fls"
            )
        }),
        "sort" => has_flag(
            args,
            &['o', 'T'],
            &["output", "compress-program", "temporary-directory"],
        ),
        "date" => has_flag(args, &['s'], &["set"]),
        // `uniq IN OUT` writes OUT.
        "uniq" => {
            args.iter()
                .filter(|a| !a.starts_with('-') || *a == "-")
                .count()
                > 1
        }
        _ => false,
    }
}

/// Read-only commands whose arguments can make them write ([`writes`]).
const WRITE_BY_ARGUMENT: &[&str] = &["find", "sort", "date", "uniq"];

/// Whether `argv` may run without asking under the `untrusted` policy;
/// when not `all_known`, some of its arguments are words cordon cannot
/// know, so only a command no argument makes write is.
pub fn known_safe(argv: &[String], all_known: bool) -> bool {
    let command = name(argv);
    READ_ONLY.contains(&command)
        && if all_known {
            !writes(command, &argv[1..])
        } else {
            !WRITE_BY_ARGUMENT.contains(&command)
        }
}

/// Why a command must ask when words after `known` (its first words) are
/// unknown, if it must: they could make it one that always asks (`rm $X`
/// may be `rm -rf`), or be code or a command it runs (a shell's,
/// an interpreter's, `find -exec`, `git -c alias.x=!cmd`).
pub fn asks_with_unknown(known: &[String]) -> Option<&'static str> {
    match name(known) {
        "" => Some("cordon cannot tell which command runs"),
        "rm" => Some("rm with words cordon cannot know, which may make it recursive or forced"),
        "git" | "find" => Some("words cordon cannot know may make it run a command"),
        word if crate::shell::runs_code(word) => {
            Some("words cordon cannot know may be code it runs")
        }
        _ => None,
    }
}

/// Commands that ask whatever the policy, unless a rule allows them:
/// recursive or forced `rm`, and the git commands that discard work or
/// rewrite a remote, in every form git accepts ([`git::Git::always_asks`]).
pub fn always_asks(argv: &[String]) -> Option<&'static str> {
    let args = argv.get(1..).unwrap_or_default();
    match name(argv) {
        "rm" if has_flag(args, &['r', 'R', 'f'], &["recursive", "force"]) => {
            Some("recursive or forced rm")
        }
        "git" => git::parse(args).always_asks(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn flags_decide_safety() {
        for safe in [
            "ls -la",
            "grep -rn TODO src",
            "find . -name *.rs",
            "sort -n x",
            "uniq x",
            "/usr/bin/cat a",
            "date -u",
        ] {
            assert!(known_safe(&argv(safe), true), "{safe}");
        }
        for unsafe_ in [
            "find . -delete",
            "find . -exec rm {} ;",
            "sort -o out x",
            "sort -no out x",
            "sort --output=out x",
            "uniq in out",
            "date -s now",
            "sed -n 1p x",
            "rm x",
            "tee x",
            "cp a b",
            "git status",
        ] {
            assert!(!known_safe(&argv(unsafe_), true), "{unsafe_}");
        }
        // With an unknown word, only what no argument makes write.
        assert!(known_safe(&argv("wc -l $f"), false));
        assert!(!known_safe(&argv("sort $f"), false));
        assert!(!known_safe(&argv("find $f"), false));
    }

    #[test]
    fn unknown_words_ask_where_they_could_run_something() {
        for known in [
            "rm",
            "git status",
            "find .",
            "sh",
            "python3 x.py",
            "sed -n",
            "xargs",
        ] {
            assert!(asks_with_unknown(&argv(known)).is_some(), "{known}");
        }
        for known in ["wc -l", "cat", "echo", "grep -n"] {
            assert!(asks_with_unknown(&argv(known)).is_none(), "{known}");
        }
    }

    #[test]
    fn dangerous_commands_always_ask() {
        for line in [
            "rm -rf build",
            "rm -r x",
            "rm -f x",
            "rm --recursive x",
            "/bin/rm -fr x",
            "git push --force",
            "git push -f origin",
            "git reset --hard HEAD~1",
        ] {
            assert!(always_asks(&argv(line)).is_some(), "{line}");
        }
        for line in ["rm x", "git push origin", "git reset --soft HEAD", "ls -rf"] {
            assert!(always_asks(&argv(line)).is_none(), "{line}");
        }
    }
}
