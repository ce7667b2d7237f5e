//! Which commands are known to be safe to run unasked, judged by the
//! command and its flags, and which always ask.
//!
//! Known-safe means read-only whatever the arguments: `find` with -exec,
//! -delete or -fprint, `sort -o`, `uniq IN OUT`, `date -s` are not. `sed`
//! is known-safe only as `sed -n` with a script of addresses and `p`
//! (others can write and execute: `w`, `e`); git only for the subcommands
//! that read ([`GIT_READING`]), with no global option and none of the
//! flags that write a file or run a program. Nothing that writes (`cp`,
//! `tee`, `touch`, ...) is.

use std::path::Path;

use crate::shell::git;

/// Commands that only read their inputs and write to stdout, unless one of
/// the flags [`writes`] looks for is present.
const READ_ONLY: &[&str] = &[
    "base64",
    "basename",
    "cat",
    "cmp",
    "comm",
    "cut",
    "date",
    "diff",
    "dirname",
    "echo",
    "expand",
    "false",
    "find",
    "fold",
    "grep",
    "head",
    "join",
    "ls",
    "nl",
    "paste",
    "printf",
    "pwd",
    "realpath",
    "seq",
    "sha256sum",
    "sleep",
    "sort",
    "tac",
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

/// git subcommands that only read the repository and print.
const GIT_READING: &[&str] = &[
    "status",
    "log",
    "diff",
    "show",
    "rev-parse",
    "ls-files",
    "ls-tree",
    "blame",
    "describe",
    "shortlog",
    "cat-file",
];

/// Their flags that write a file (`--output`) or run a program (an
/// external diff, a configured text conversion, a pager of files); git
/// takes any unambiguous abbreviation, so a prefix counts.
const GIT_ACTING_FLAGS: &[&str] = &["output", "ext-diff", "textconv", "open-files-in-pager"];

/// Whether `argv` may run without asking under the `untrusted` policy;
/// when not `all_known`, some of its arguments are words cordon cannot
/// know, so only a command no argument makes write is.
pub fn known_safe(argv: &[String], all_known: bool) -> bool {
    let command = name(argv);
    let args = &argv[1..];
    match command {
        "git" => all_known && git_reads(args),
        "sed" => all_known && sed_prints(args),
        _ if all_known => READ_ONLY.contains(&command) && !writes(command, args),
        _ => READ_ONLY.contains(&command) && !WRITE_BY_ARGUMENT.contains(&command),
    }
}

/// `git SUBCOMMAND ...` with no global option, a reading subcommand, and
/// none of [`GIT_ACTING_FLAGS`].
fn git_reads(args: &[String]) -> bool {
    let git = git::parse(args);
    git.unreadable.is_none()
        && git.args.len() + 1 == args.len()
        && git.subcommand.is_some_and(|sub| GIT_READING.contains(&sub))
        && !has_flag(git.args, &[], GIT_ACTING_FLAGS)
        && !git.args.iter().any(|a| a == "-O" || a.starts_with("-O"))
}

/// `sed -n SCRIPT [FILE...]` whose script only prints: `p` commands after
/// line-number, `$` or plain `/regex/` addresses, separated by `;`.
fn sed_prints(args: &[String]) -> bool {
    let mut quiet = false;
    let mut script = None;
    for arg in args {
        match arg.as_str() {
            "-n" | "--quiet" | "--silent" => quiet = true,
            "-E" | "-r" | "-s" | "-u" | "-z" => {}
            flag if flag.starts_with('-') => return false,
            text if script.is_none() => script = Some(text),
            _ => {}
        }
    }
    quiet && script.is_some_and(|script| script.split(';').all(prints_only))
}

/// One `sed` command that is an optional address and `p`.
fn prints_only(command: &str) -> bool {
    let Some(address) = command.trim().strip_suffix('p') else {
        return false;
    };
    let plain = |part: &str| {
        part.is_empty()
            || part == "$"
            || part.bytes().all(|b| b.is_ascii_digit())
            || part.len() >= 2
                && part.starts_with('/')
                && part.ends_with('/')
                && !part[1..part.len() - 1].contains(['/', '\\'])
    };
    match address.split_once(',') {
        Some((from, to)) => !from.is_empty() && plain(from) && !to.is_empty() && plain(to),
        None => plain(address),
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
            "git status",
            "git log --oneline -5",
            "git diff HEAD~1 -- src",
            "git show HEAD:README.md",
            "sed -n 1p x",
            "sed -n 1,10p x",
            "sed -n $p x",
            "sed -n /fn/p x",
            "sed -n 2p;5,$p x",
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
            "sed 1p x",
            "sed -n 1w out x",
            "sed -n 1e x",
            "sed -n 1p;w/tmp/x x",
            "sed -n -i 1p x",
            "sed -n -f script x",
            "sed -n /a/w/tmp/x/p x",
            "rm x",
            "tee x",
            "cp a b",
            "git push",
            "git diff --output=x",
            "git log --out=x",
            "git diff --ext-diff",
            "git show --textconv HEAD",
            "git grep -Ovim x",
            "git -c core.pager=evil log",
            "git -C .. status",
            "git branch x",
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
