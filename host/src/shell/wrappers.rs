//! Commands that run another command (`env`, `nice`, `timeout`, `xargs`,
//! `sudo`, `command`, `exec`, `find -exec`, `busybox` ...). The broker judges
//! the wrapper and every command it wraps, so a forbidden command cannot
//! hide behind one; where cordon cannot tell which command a wrapper runs
//! (an option it does not know, a command fed to `xargs` on stdin), the
//! unwrapping says so and the broker asks.

use std::path::Path;

/// A wrapper: its options without a value, and those with one (as the next
/// word, or attached: `-n5`, `--adjustment=5`).
struct Wrapper {
    name: &'static str,
    flags: &'static [&'static str],
    valued: &'static [&'static str],
}

const WRAPPERS: &[Wrapper] = &[
    Wrapper {
        name: "env",
        flags: &[
            "-",
            "-i",
            "-0",
            "-v",
            "--ignore-environment",
            "--null",
            "--debug",
        ],
        // Not -C/--chdir: the command would run in another directory than
        // the one it is judged in (a relative program, git's repository),
        // so cordon does not unwrap it and asks.
        valued: &["-u", "--unset"],
    },
    Wrapper {
        name: "nice",
        flags: &[],
        valued: &["-n", "--adjustment"],
    },
    Wrapper {
        name: "timeout",
        flags: &["-v", "--verbose", "--preserve-status", "--foreground"],
        valued: &["-k", "-s", "--kill-after", "--signal"],
    },
    Wrapper {
        name: "xargs",
        flags: &[
            "-0",
            "-r",
            "-t",
            "-p",
            "-x",
            "--null",
            "--no-run-if-empty",
            "--verbose",
            "--interactive",
            "--exit",
            "--open-tty",
            "--show-limits",
        ],
        valued: &[
            "-I",
            "-n",
            "-P",
            "-d",
            "-L",
            "-s",
            "-E",
            "-a",
            "--arg-file",
            "--delimiter",
            "--max-args",
            "--max-procs",
            "--max-lines",
            "--max-chars",
            "--process-slot-var",
            "--eof",
            "--replace",
        ],
    },
    // Not -D/--chdir: as env's -C, below.
    Wrapper {
        name: "sudo",
        flags: &[
            "-E", "-H", "-n", "-S", "-b", "-i", "-s", "-P", "-k", "-K", "-A", "-B",
        ],
        valued: &[
            "-u", "-g", "-C", "-h", "-p", "-U", "-r", "-t", "-T", "--user", "--group",
        ],
    },
    Wrapper {
        name: "doas",
        flags: &["-n", "-s"],
        valued: &["-u", "-C"],
    },
    Wrapper {
        name: "command",
        flags: &["-p"],
        valued: &[],
    },
    Wrapper {
        name: "builtin",
        flags: &[],
        valued: &[],
    },
    Wrapper {
        name: "exec",
        flags: &["-c", "-l"],
        valued: &["-a"],
    },
    Wrapper {
        name: "nohup",
        flags: &[],
        valued: &[],
    },
    Wrapper {
        name: "time",
        flags: &["-p", "-a", "-v", "--append", "--verbose", "--portability"],
        valued: &["-o", "-f", "--output", "--format"],
    },
    Wrapper {
        name: "stdbuf",
        flags: &[],
        valued: &["-i", "-o", "-e", "--input", "--output", "--error"],
    },
    Wrapper {
        name: "ionice",
        flags: &["-t"],
        valued: &["-c", "-n", "-p"],
    },
    Wrapper {
        name: "setsid",
        flags: &["-c", "-f", "-w"],
        valued: &[],
    },
    Wrapper {
        name: "busybox",
        flags: &[],
        valued: &[],
    },
];

/// Shells, which run whatever text they are given.
const SHELLS: &[&str] = &["sh", "bash", "dash", "ksh", "zsh", "busybox"];

fn name_of(word: &str) -> &str {
    Path::new(word)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(word)
}

/// The commands that `argv` runs, outermost first, and whether that list
/// is certain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwrapped {
    /// `sudo env X=1 rm -rf /` gives `[sudo ...]`, `[env ...]`, `[rm -rf /]`;
    /// a `find` adds the commands of its `-exec` actions.
    pub views: Vec<Vec<String>>,
    /// Why cordon cannot tell every command that runs, if it cannot.
    pub uncertain: Option<String>,
    /// Views that get words cordon cannot know: the first view `xargs`
    /// runs (words from its input, appended or in place of its
    /// replace-string `-I {}`) and each `find -exec` command (file names in
    /// place of `{}`), with where in it a replaced word first stands.
    fed: Vec<(usize, Option<usize>)>,
}

impl Unwrapped {
    /// How many first words of view `i` are known if xargs feeds it
    /// words (appended, or in place of its replace-string), or `None`.
    pub fn fed_words(&self, i: usize) -> Option<usize> {
        let view = self.views.get(i)?;
        self.fed
            .iter()
            .filter(|(first, _)| i >= *first)
            .map(|&(first, replace_at)| {
                let fed = &self.views[first];
                let offset = fed
                    .len()
                    .checked_sub(view.len())
                    .filter(|&offset| fed[offset..] == *view);
                match (offset, replace_at) {
                    (Some(offset), Some(at)) => at.saturating_sub(offset),
                    (Some(_), None) => view.len(),
                    // Not a command this one runs: all unknown to it.
                    (None, _) => 0,
                }
            })
            .min()
    }
}

/// xargs's replace-string, if its options set one (`-I R`, `-iR`,
/// `--replace[=R]`).
fn replace_string(options: &[String]) -> Option<String> {
    let mut words = options.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "-I" => return words.next().cloned(),
            "-i" | "--replace" => return Some("{}".into()),
            w if w.starts_with("--replace=") => return Some(w["--replace=".len()..].into()),
            w if w.starts_with("-I") || w.starts_with("-i") => return Some(w[2..].into()),
            _ => {}
        }
    }
    None
}

/// How many words a wrapper's options take, or why they cannot be read.
fn options_length(wrapper: &Wrapper, args: &[String]) -> Result<usize, String> {
    let mut i = 0;
    while let Some(word) = args.get(i) {
        if word == "--" {
            return Ok(i + 1);
        }
        let assignment = wrapper.name == "env" && word.contains('=') && !word.starts_with('-');
        if assignment {
            i += 1;
            continue;
        }
        // `env -` is `env -i`; for the others `-` is a command's name.
        if !word.starts_with('-') || (word == "-" && wrapper.name != "env") {
            return Ok(i);
        }
        // nice -5, a number as the option.
        if wrapper.name == "nice" && word[1..].chars().all(|c| c.is_ascii_digit()) {
            i += 1;
            continue;
        }
        let (option, attached) = match word.split_once('=') {
            Some((option, _)) => (option, true),
            None if !word.starts_with("--") && word.chars().count() > 2 => {
                let at = word.char_indices().nth(2).map_or(word.len(), |(i, _)| i);
                (&word[..at], true)
            }
            None => (word.as_str(), false),
        };
        if wrapper.valued.contains(&option) {
            i += if attached { 1 } else { 2 };
        } else if wrapper.flags.contains(&word.as_str()) {
            i += 1;
        } else {
            return Err(format!("`{}` with the option {word}", wrapper.name));
        }
    }
    Ok(i)
}

/// `env -S 'cmd args'` / `--split-string=...` among env's options (read in
/// order, so a value of `-u` is no `-S`): the value is the command. env
/// splits it with quotes, escapes and `${VAR}` of its own; only a value
/// without them is read (`Err` otherwise).
fn env_split_string(args: &[String]) -> Result<Option<Vec<String>>, String> {
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let text = match word.as_str() {
            "-S" | "--split-string" => words.next().cloned().unwrap_or_default(),
            w if w.starts_with("--split-string=") => w["--split-string=".len()..].to_string(),
            w if w.starts_with("-S") => w[2..].to_string(),
            "-u" | "-C" | "--unset" | "--chdir" => {
                words.next();
                continue;
            }
            "--" => return Ok(None),
            w if w.starts_with('-') || w.contains('=') => continue,
            _ => return Ok(None),
        };
        if text.contains(['"', '\'', '\\', '$', '#']) {
            return Err("`env -S` with quotes, escapes or variables".into());
        }
        let rest: Vec<String> = words.cloned().collect();
        return Ok(Some(
            text.split_whitespace()
                .map(str::to_string)
                .chain(rest)
                .collect(),
        ));
    }
    Ok(None)
}

/// What `env` changes in the environment of the command it runs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EnvChanges {
    /// The variables it sets or unsets.
    pub names: Vec<String>,
    /// It starts from an empty environment (`-i`, `-`).
    pub cleared: bool,
}

/// What `view`, if it runs `env`, changes for its command.
pub fn env_changes(view: &[String]) -> EnvChanges {
    let mut changes = EnvChanges::default();
    if view.first().is_none_or(|w| name_of(w) != "env") {
        return changes;
    }
    let mut words = view[1..].iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "-i" | "--ignore-environment" | "-" => changes.cleared = true,
            "-u" | "--unset" => changes.names.extend(words.next().cloned()),
            "--" => {}
            w if w.starts_with("--unset=") => changes.names.push(w["--unset=".len()..].into()),
            w if w.starts_with("-u") => changes.names.push(w[2..].into()),
            w if w.starts_with('-') => {}
            w => match w.split_once('=') {
                Some((name, _)) => changes.names.push(name.into()),
                None => break,
            },
        }
    }
    changes
}

/// `find`'s actions that run a command, up to `;` or `+`.
const FIND_ACTIONS: &[&str] = &["-exec", "-execdir", "-ok", "-okdir"];

fn find_actions(args: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if FIND_ACTIONS.contains(&word.as_str()) {
            // `;` ends an action; `+` only right after `{}`.
            let mut command: Vec<String> = Vec::new();
            for word in words.by_ref() {
                if word == ";" || (word == "+" && command.last().is_some_and(|w| w == "{}")) {
                    break;
                }
                command.push(word.clone());
            }
            if !command.is_empty() {
                found.push(command);
            }
        }
    }
    found
}

/// Programs that run a command their arguments name, with option syntax
/// cordon does not unwrap: what they run is not seen.
const RUNS_ARGUMENTS: &[&str] = &[
    "taskset",
    "flock",
    "prlimit",
    "setpriv",
    "chrt",
    "nsenter",
    "unshare",
    "chroot",
    "runuser",
    "su",
    "sg",
    "strace",
    "ltrace",
    "valgrind",
    "watch",
    "parallel",
    "numactl",
    "cgexec",
    "systemd-run",
    "firejail",
    "bwrap",
    "proot",
    "fakeroot",
    "faketime",
    "xvfb-run",
    "dbus-run-session",
    "ssh-agent",
    "unbuffer",
    "catchsegv",
    "perf",
    "torsocks",
    "proxychains",
    "proxychains4",
    "tsocks",
    "pkexec",
    "run-parts",
    "start-stop-daemon",
    "daemonize",
    "entr",
    "inotifywait",
    "direnv",
    "nix-shell",
    "with-contenv",
    "s6-setuidgid",
    "chpst",
    "sem",
    "rlwrap",
    "expect",
    "tmux",
    "screen",
    "ssh",
    "mosh",
    "sshpass",
    "setarch",
    "linux32",
    "linux64",
    "x86_64",
    "i386",
    "aarch64",
    "uname26",
    "logsave",
    "capsh",
    "hyperfine",
    "rustup",
    "pyenv",
    "rbenv",
    "nodenv",
    "asdf",
    "mise",
    "conda",
    "micromamba",
    "pipx",
    "nix",
    "newgrp",
    "ld.so",
];

/// Options that make a program hand a command line to a shell, by program:
/// written as the option (a long option may also carry `=value`; a short
/// one may stand in a cluster).
const COMMAND_OPTIONS: &[(&str, &[&str])] = &[
    (
        "tar",
        &[
            "--checkpoint-action",
            "--to-command",
            "--use-compress-program",
            "--info-script",
            "--new-volume-script",
            "--rsh-command",
            "--rmt-command",
            "-I",
            "-F",
        ],
    ),
    ("scp", &["-S", "-o", "-F"]),
    ("sftp", &["-S", "-o", "-F", "-D"]),
    ("rsync", &["-e", "--rsh", "--rsync-path"]),
    ("zip", &["-TT", "--unzip-command"]),
    ("man", &["-P", "--pager", "-H", "--html"]),
    ("less", &["+"]),
    ("split", &["--filter"]),
    ("install", &["--strip-program"]),
    ("sort", &["--compress-program"]),
    ("diff3", &["--diff-program"]),
    ("sdiff", &["--diff-program"]),
];

/// Whether `args` give one of `options` (see [`COMMAND_OPTIONS`]).
fn gives_option(args: &[String], options: &[&str]) -> bool {
    args.iter().any(|arg| {
        options.iter().any(|option| {
            if option.starts_with("--") {
                arg == option || arg.starts_with(&format!("{option}="))
            } else if *option == "+" || option.len() > 2 {
                arg.starts_with(option)
            } else {
                let letter = &option[1..];
                arg.starts_with('-') && !arg.starts_with("--") && arg[1..].contains(letter)
            }
        })
    })
}

/// Shells whose command line cordon does not read even with `-c`.
const UNREAD_SHELLS: &[&str] = &["rbash", "fish", "csh", "tcsh", "mksh", "yash"];

/// Why `view` hands code to a shell some way other than a `-c` cordon
/// reads, if it does: a shell reading a script file or its stdin (`| sh`,
/// `bash -s`, `sh s.sh`), a shell cordon does not read, `script` (which
/// runs a shell, with `-c` or not), git running an alias or a setting
/// that names a program.
fn code_handed_over(view: &[String]) -> Option<String> {
    let name = name_of(view.first()?);
    let info_only = |args: &[String]| {
        !args.is_empty() && args.iter().all(|a| a == "--version" || a == "--help")
    };
    // The dynamic loader runs the program it is given.
    let loader = name.starts_with("ld-linux") || name.starts_with("ld64.so");
    if (RUNS_ARGUMENTS.contains(&name) || loader) && !info_only(&view[1..]) {
        return Some(format!("`{name}` runs a command cordon does not unwrap"));
    }
    if let Some((_, options)) = COMMAND_OPTIONS.iter().find(|(n, _)| *n == name)
        && gives_option(&view[1..], options)
    {
        return Some(format!("`{name}` with an option that runs a command"));
    }
    match name {
        "git" => super::git::parse(&view[1..]).unreadable,
        "script" => Some("`script` runs a shell on what it is given".into()),
        n if UNREAD_SHELLS.contains(&n) && !info_only(&view[1..]) => {
            Some(format!("`{n}` runs shell code cordon does not read"))
        }
        n if n != "busybox"
            && SHELLS.contains(&n)
            && super::shell_line(view).is_none()
            && !info_only(&view[1..]) =>
        {
            Some(format!(
                "`{n}` without -c reads a script file or its stdin, which cordon does not read"
            ))
        }
        _ => None,
    }
}

/// Unwraps `argv`; see [`Unwrapped`].
pub fn unwrap(argv: &[String]) -> Unwrapped {
    let mut out = Unwrapped {
        views: vec![argv.to_vec()],
        uncertain: None,
        fed: Vec::new(),
    };
    let mut rest = argv.to_vec();
    let mut fed_by_xargs = false;
    while let Some(first) = rest.first() {
        let name = name_of(first);
        let Some(wrapper) = WRAPPERS.iter().find(|w| w.name == name) else {
            if fed_by_xargs && SHELLS.contains(&name) {
                out.uncertain = Some(format!("a shell fed by xargs ({name})"));
            }
            break;
        };
        let args = &rest[1..];
        if name == "env" {
            match env_split_string(args) {
                Ok(Some(split)) => {
                    rest = split;
                    out.views.push(rest.clone());
                    continue;
                }
                Ok(None) => {}
                Err(why) => {
                    out.uncertain = Some(why);
                    break;
                }
            }
        }
        // `command -v NAME` only looks the name up (an option: before the
        // first word that is not one).
        let options = args.iter().take_while(|w| w.starts_with('-') && *w != "--");
        if name == "command" && options.clone().any(|w| w.contains(['v', 'V'])) {
            break;
        }
        let skip = match options_length(wrapper, args) {
            Ok(skip) => skip,
            Err(why) => {
                out.uncertain = Some(why);
                break;
            }
        };
        // `timeout` takes the duration before the command.
        let skip = skip + usize::from(name == "timeout");
        let command = args.get(skip..).unwrap_or_default().to_vec();
        if command.is_empty() {
            if fed_by_xargs || name == "xargs" {
                // The command comes from stdin: `... | xargs env`.
                if name != "xargs" {
                    out.uncertain = Some(format!("`{name}` with a command fed by xargs"));
                }
            }
            break;
        }
        fed_by_xargs = name == "xargs";
        if fed_by_xargs && out.fed.is_empty() {
            let replace_at = replace_string(&args[..skip])
                .and_then(|r| command.iter().position(|w| w.contains(r.as_str())));
            out.fed.push((out.views.len(), replace_at));
        }
        rest = command;
        out.views.push(rest.clone());
    }
    if out.uncertain.is_none() {
        out.uncertain = out.views.iter().find_map(|view| code_handed_over(view));
    }
    // `git -C . --no-pager status` runs `git status`: a rule for that
    // command line meets it either way.
    let plain_git: Vec<Vec<String>> = out
        .views
        .iter()
        .filter(|v| v.first().is_some_and(|w| name_of(w) == "git"))
        .filter_map(|v| {
            let git = super::git::parse(&v[1..]);
            let sub = git.subcommand?;
            let globals = v.len() - 2 - git.args.len();
            (globals > 0).then(|| {
                [v[0].clone(), sub.to_string()]
                    .into_iter()
                    .chain(git.args.iter().cloned())
                    .collect()
            })
        })
        .collect();
    out.views.extend(plain_git);
    let finds: Vec<Vec<String>> = out
        .views
        .iter()
        .filter(|v| v.first().is_some_and(|w| name_of(w) == "find"))
        .flat_map(|v| find_actions(&v[1..]))
        .collect();
    for command in finds {
        let inner = unwrap(&command);
        out.uncertain = out.uncertain.or(inner.uncertain);
        // find puts a file name where `{}` stands.
        if let Some(at) = command.iter().position(|w| w.contains("{}")) {
            out.fed.push((out.views.len(), Some(at)));
        }
        out.views.extend(inner.views);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn every_wrapped_command_is_seen() {
        for (line, inner) in [
            ("env -i A=1 rm -rf x", "rm -rf x"),
            ("nice -n 5 rm -rf x", "rm -rf x"),
            ("nice -5 rm -rf x", "rm -rf x"),
            ("timeout -s KILL 10 rm -rf x", "rm -rf x"),
            ("xargs -n 1 rm -rf", "rm -rf"),
            ("xargs --max-chars 99 curl", "curl"),
            ("sudo -u root rm -rf x", "rm -rf x"),
            ("command rm -rf x", "rm -rf x"),
            ("exec -a name /usr/bin/rm -rf x", "/usr/bin/rm -rf x"),
            ("/usr/bin/time -o f curl x", "curl x"),
            ("env -S curl_x", "curl_x"),
            ("busybox rm -rf x", "rm -rf x"),
            ("sudo env nice rm -rf x", "rm -rf x"),
            ("find . -name x -exec rm -rf {} ; -print", "rm -rf {}"),
        ] {
            let u = unwrap(&words(line));
            assert_eq!(u.views.last().unwrap(), &words(inner), "{line}");
            assert_eq!(u.views[0], words(line));
            assert_eq!(u.uncertain, None, "{line}");
        }
        assert_eq!(unwrap(&words("ls -l")).views.len(), 1);
        // A value of -u is not -S; `command` looks up only before its
        // command; find's `+` ends an action only after `{}`.
        let u = unwrap(&words("env -u -Secho touch x"));
        assert_eq!(u.views.last().unwrap(), &words("touch x"));
        let u = unwrap(&words("command touch x -- -v"));
        assert_eq!(u.views.last().unwrap(), &words("touch x -- -v"));
        let u = unwrap(&words("find . -exec env -u + touch x ;"));
        assert_eq!(u.views.last().unwrap(), &words("touch x"));
        // git without its global options, for rules.
        let u = unwrap(&words("git -C . --no-pager status -s"));
        assert_eq!(u.views.last().unwrap(), &words("git status -s"));
    }

    #[test]
    fn what_cannot_be_read_is_uncertain() {
        for line in [
            "env --weird curl",
            "xargs env",
            "xargs sh -c",
            "sudo --unknown rm",
            "sh",
            "bash -s",
            "sh script.sh",
            "env bash run.sh",
            "busybox sh",
            "rbash -c x",
            "script -qc x",
            "script",
            "git -c alias.x=!touch x",
            "sudo git lfs pull",
            "taskset 1 touch x",
            "flock lk -c touch",
            "env -S\"touch\" x",
            "env -S${T} x",
            "tar --checkpoint-action=exec=touch -cf a.tar x",
            "tar -cIf touch a.tar x",
            "rsync -e touch a b",
        ] {
            assert!(unwrap(&words(line)).uncertain.is_some(), "{line}");
        }
    }
}
