//! git's command line, read the way git reads it: global options before
//! the subcommand (`-C`, `-c`, `--git-dir`, `--work-tree` ...), then the
//! subcommand's own options, long ones in any unambiguous abbreviation
//! (`--har` is `--hard`), up to `--`. What cordon judges from it: the
//! commands that always ask (they destroy work or rewrite a remote), and
//! the command lines that hand shell code to git (`!` aliases, settings
//! that name a program), which cordon cannot read.

/// Global options that take a value as the next word (or after `=`).
const VALUED_GLOBALS: &[&str] = &[
    "-C",
    "-c",
    "--git-dir",
    "--work-tree",
    "--namespace",
    "--config-env",
    "--super-prefix",
    "--attr-source",
    "--exec-path",
    "--list-cmds",
    "--shallow-file",
];

/// Global options that take no value. Any other is unreadable: git may
/// read a value from the next word that cordon would take for the
/// subcommand.
const FLAG_GLOBALS: &[&str] = &[
    "-p",
    "--paginate",
    "-P",
    "--no-pager",
    "--bare",
    "--no-replace-objects",
    "--no-lazy-fetch",
    "--no-optional-locks",
    "--no-advice",
    "--literal-pathspecs",
    "--glob-pathspecs",
    "--noglob-pathspecs",
    "--icase-pathspecs",
    "--html-path",
    "--man-path",
    "--info-path",
    "--version",
    "--help",
    "-h",
    "-v",
];

/// Settings a `-c` may give that run nothing (the rest can: core.pager,
/// core.sshCommand, core.fsmonitor, diff.external, alias.*, filters ...).
const HARMLESS_SETTINGS: &[&str] = &[
    "user.name",
    "user.email",
    "color.ui",
    "core.quotepath",
    "core.autocrlf",
    "core.safecrlf",
    "init.defaultbranch",
    "advice.detachedhead",
    "commit.gpgsign",
    "tag.gpgsign",
    "log.showsignature",
    "pull.rebase",
    "push.default",
    "safe.directory",
    "column.ui",
];

/// git's own subcommands: anything else may be an alias (a `!` alias runs
/// shell code) or a `git-NAME` program found on PATH.
const BUILTINS: &[&str] = &[
    "add",
    "am",
    "annotate",
    "apply",
    "archive",
    "bisect",
    "blame",
    "branch",
    "bundle",
    "cat-file",
    "check-attr",
    "check-ignore",
    "check-mailmap",
    "check-ref-format",
    "checkout",
    "cherry",
    "cherry-pick",
    "clean",
    "clone",
    "commit",
    "commit-tree",
    "config",
    "count-objects",
    "describe",
    "diff",
    "diff-files",
    "diff-index",
    "diff-tree",
    "difftool",
    "fetch",
    "for-each-ref",
    "format-patch",
    "fsck",
    "gc",
    "grep",
    "hash-object",
    "help",
    "init",
    "log",
    "ls-files",
    "ls-remote",
    "ls-tree",
    "maintenance",
    "merge",
    "merge-base",
    "mergetool",
    "mv",
    "name-rev",
    "notes",
    "pack-refs",
    "prune",
    "pull",
    "push",
    "range-diff",
    "rebase",
    "reflog",
    "remote",
    "repack",
    "replace",
    "rerere",
    "reset",
    "restore",
    "rev-list",
    "rev-parse",
    "revert",
    "rm",
    "shortlog",
    "show",
    "show-branch",
    "show-ref",
    "sparse-checkout",
    "stash",
    "status",
    "submodule",
    "switch",
    "symbolic-ref",
    "tag",
    "update-index",
    "update-ref",
    "var",
    "verify-commit",
    "verify-tag",
    "version",
    "whatchanged",
    "worktree",
    "write-tree",
];

/// A git command line, parsed.
#[derive(Debug, PartialEq, Eq)]
pub struct Git<'a> {
    /// The first word after the global options; `None` when there is
    /// none.
    pub subcommand: Option<&'a str>,
    /// The subcommand's arguments, options and operands alike.
    pub args: &'a [String],
    /// Why cordon cannot tell what this command line runs, if it cannot.
    pub unreadable: Option<String>,
}

/// Reads `git`'s arguments (after the program name).
pub fn parse(args: &[String]) -> Git<'_> {
    let mut unreadable = None;
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        if !arg.starts_with('-') {
            break;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (arg.as_str(), None),
        };
        let (name, value) = match (name, inline) {
            // `-cNAME=VALUE` and `-CDIR` are read by git too.
            (n, None) if !n.starts_with("--") && n.chars().count() > 2 => {
                let at = n.char_indices().nth(2).map_or(n.len(), |(i, _)| i);
                (&n[..at], Some(&n[at..]))
            }
            (n, v) => (n, v),
        };
        let value = if VALUED_GLOBALS.contains(&name) && value.is_none() {
            i += 1;
            args.get(i).map(String::as_str)
        } else {
            value
        };
        if !VALUED_GLOBALS.contains(&name) && !FLAG_GLOBALS.contains(&name) {
            unreadable.get_or_insert(format!(
                "`git {name}`, a global option cordon does not know"
            ));
        }
        if let Some(why) = setting_runs_code(name, value) {
            unreadable.get_or_insert(why);
        }
        i += 1;
    }
    let subcommand = args.get(i).map(String::as_str);
    if let Some(sub) = subcommand
        && !BUILTINS.contains(&sub)
    {
        unreadable.get_or_insert(format!(
            "`git {sub}` is no git command cordon knows: an alias (one starting with `!` \
             runs shell code) or a program of its own"
        ));
    }
    let args = args.get(i + 1..).unwrap_or_default();
    if let Some(why) = subcommand.and_then(|sub| subcommand_runs_code(sub, args)) {
        unreadable.get_or_insert(why);
    }
    Git {
        subcommand,
        args,
        unreadable,
    }
}

/// Why a subcommand's own options make git run a program they name (or
/// obey a setting the line writes), if they do.
fn subcommand_runs_code(sub: &str, args: &[String]) -> Option<String> {
    let options = Options::new(args);
    let first = options.operands().next();
    let runs = match sub {
        "fetch" | "pull" | "ls-remote" | "remote" => options.has(&[], &["upload-pack"]),
        "clone" => options.has(&['u', 'c'], &["upload-pack", "template", "config"]),
        "init" => options.has(&[], &["template"]),
        "archive" => options.has(&[], &["exec", "remote"]),
        "push" => options.has(&[], &["receive-pack", "exec"]),
        "rebase" => options.has(&['x'], &["exec"]),
        "difftool" => options.has(&['x', 't'], &["extcmd", "tool"]),
        "mergetool" => true,
        "grep" => options.has(&['O'], &["open-files-in-pager"]),
        "bisect" => first == Some("run"),
        "submodule" => first == Some("foreach"),
        "config" => return config_sets_code(&options),
        _ => false,
    };
    runs.then(|| format!("`git {sub}` with an option that runs a program"))
}

/// Why `git config ARGS` sets something that names a program, if it
/// does: a setting outside [`HARMLESS_SETTINGS`] (reading is harmless).
fn config_sets_code(options: &Options) -> Option<String> {
    const READING: &[&str] = &[
        "get",
        "get-all",
        "get-regexp",
        "list",
        "get-urlmatch",
        "get-color",
    ];
    if options.has(&['l'], READING) {
        return None;
    }
    let mut operands = options.operands();
    let key = match operands.next()? {
        "get" | "list" => return None,
        "set" | "unset" => operands.next()?,
        key => key,
    };
    let key = key.to_ascii_lowercase();
    (!HARMLESS_SETTINGS.contains(&key.as_str()))
        .then(|| format!("`git config {key}` may name a program or an alias"))
}

/// Why a global option makes the command line run code cordon does not
/// see: a setting that names a program or an alias, or a setting from the
/// environment (whose value cordon does not read).
fn setting_runs_code(option: &str, value: Option<&str>) -> Option<String> {
    match option {
        "-c" => {
            let key = value?.split('=').next()?.to_ascii_lowercase();
            (!HARMLESS_SETTINGS.contains(&key.as_str()))
                .then(|| format!("`git -c {key}=...` may name a program or an alias"))
        }
        "--config-env" => Some("`git --config-env` sets what cordon cannot read".into()),
        // A repository the line may have made, with settings and hooks
        // of its own that git obeys.
        "--git-dir" | "--work-tree" => Some(format!(
            "`git {option}` points git at a repository whose settings and hooks it obeys"
        )),
        "--exec-path" if value.is_some() => {
            Some("`git --exec-path=DIR` runs git's commands from elsewhere".into())
        }
        _ => None,
    }
}

impl Git<'_> {
    /// Why this command always asks: it destroys uncommitted work or
    /// rewrites what a remote holds.
    pub fn always_asks(&self) -> Option<&'static str> {
        let options = Options::new(self.args);
        match self.subcommand? {
            "push" => {
                if options.has(&['f'], &["force", "force-with-lease", "force-if-includes"])
                    || options.has(&['d'], &["delete", "mirror", "prune"])
                    || options
                        .operands()
                        .any(|o| o.starts_with('+') || o.starts_with(':'))
                {
                    Some("git push that rewrites or deletes on the remote")
                } else {
                    None
                }
            }
            "reset" if options.has(&[], &["hard", "merge", "keep"]) => {
                Some("git reset that discards changes")
            }
            "clean" if options.has(&['f'], &["force"]) => Some("git clean -f"),
            "checkout" if options.has(&['f'], &["force"]) || options.after_separator() => {
                Some("git checkout that overwrites files")
            }
            "restore" => Some("git restore (overwrites files)"),
            "branch" if options.has(&['D'], &[]) || deletes_forced(&options) => {
                Some("git branch -D")
            }
            "stash" if matches!(options.operands().next(), Some("drop" | "clear")) => {
                Some("git stash drop/clear")
            }
            _ => None,
        }
    }
}

/// `git branch --delete --force` (the long spelling of `-D`).
fn deletes_forced(options: &Options) -> bool {
    options.has(&['d'], &["delete"]) && options.has(&['f'], &["force"])
}

/// A subcommand's arguments, split at `--`.
struct Options<'a> {
    before: &'a [String],
    separated: bool,
}

impl<'a> Options<'a> {
    fn new(args: &'a [String]) -> Options<'a> {
        let end = args.iter().position(|a| a == "--");
        Options {
            before: &args[..end.unwrap_or(args.len())],
            separated: end.is_some(),
        }
    }

    fn after_separator(&self) -> bool {
        self.separated
    }

    /// Whether a short option in `short` (alone or in a cluster: `-fd`) or
    /// a long one in `long` is given; git's parse-options takes any
    /// unambiguous prefix of a long option, so a prefix counts too.
    fn has(&self, short: &[char], long: &[&str]) -> bool {
        self.before.iter().any(|arg| {
            if let Some(flag) = arg.strip_prefix("--") {
                let flag = flag.split('=').next().unwrap_or(flag);
                !flag.is_empty() && long.iter().any(|l| l.starts_with(flag))
            } else if let Some(cluster) = arg.strip_prefix('-') {
                cluster.chars().any(|c| short.contains(&c))
            } else {
                false
            }
        })
    }

    fn operands(&self) -> impl Iterator<Item = &'a str> {
        self.before
            .iter()
            .filter(|a| !a.starts_with('-'))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn every_form_git_accepts_of_a_destructive_command_asks() {
        for line in [
            "push --force",
            "push -f origin",
            "push --for origin",
            "push origin +HEAD:main",
            "push origin :main",
            "push --force-if-includes",
            "push --force-with-lease",
            "push --mirror",
            "push --delete origin x",
            "push -d origin x",
            "-c user.name=x push -f",
            "-C . reset --hard",
            "--git-dir=.git reset --hard",
            "--work-tree . reset --har",
            "reset --hard HEAD~1",
            "reset --merge",
            "clean -fd",
            "clean --force",
            "checkout -- .",
            "checkout -f main",
            "restore src",
            "branch -D x",
            "branch --delete --force x",
            "stash drop",
        ] {
            let args = git(line);
            assert!(parse(&args).always_asks().is_some(), "git {line}");
        }
        for line in [
            "push origin",
            "push origin HEAD:main",
            "reset --soft HEAD",
            "reset HEAD file",
            "clean -n",
            "checkout main",
            "branch -d x",
            "status",
            "stash list",
            "-C sub log --oneline",
        ] {
            let args = git(line);
            let parsed = parse(&args);
            assert!(parsed.always_asks().is_none(), "git {line}");
            assert!(parsed.unreadable.is_none(), "git {line}");
        }
    }

    #[test]
    fn shell_code_handed_to_git_is_unreadable() {
        for line in [
            "-c alias.x=!touch x",
            "-calias.x=!touch",
            "-c core.pager=touch log",
            "-c core.fsmonitor=touch status",
            "--config-env=alias.x=EVIL x",
            "--exec-path=/tmp status",
            "x",
            "lfs pull",
            "--git-dir=g/r status",
            "--work-tree=. status",
            "--weird status",
            // Found by the shell_reader fuzz target: a multi-byte letter
            // after `-` once split a character (a panic).
            "-ߛx status",
            "ls-remote --upload-pack=touch .",
            "fetch --upload-pack touch origin",
            "push --receive-pack=touch origin",
            "rebase -x touch main",
            "rebase --exe=touch main",
            "difftool -x touch",
            "grep -O touch x",
            "bisect run touch",
            "submodule foreach touch",
            "clone -u touch repo",
            "clone --template=t repo",
            "init --template=t",
            "config core.fsmonitor touch",
            "config set core.pager touch",
            "config --add alias.x !touch",
        ] {
            let args = git(line);
            assert!(parse(&args).unreadable.is_some(), "git {line}");
        }
        for line in [
            "config user.email me@example.com",
            "config --get core.pager",
            "config --list",
            "config get alias.x",
            "-P log",
            "--no-pager diff",
            "--shallow-file x status",
            "fetch origin",
        ] {
            let args = git(line);
            assert_eq!(parse(&args).unreadable, None, "git {line}");
        }
        let args = git("-c user.name=me -c color.ui=never commit -m x");
        let parsed = parse(&args);
        assert_eq!(parsed.unreadable, None);
        assert_eq!(parsed.subcommand, Some("commit"));
    }
}
