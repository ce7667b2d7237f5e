//! Commands that run another command (`env`, `nice`, `timeout`, `xargs`,
//! `sudo`, `command`, `exec`, ...). The broker judges the wrapper and every
//! command it wraps, so a forbidden command cannot hide behind one.

use std::path::Path;

/// Options of a wrapper that take a value as the next word.
fn takes_value(wrapper: &str, option: &str) -> bool {
    match wrapper {
        "env" => matches!(
            option,
            "-u" | "--unset" | "-C" | "--chdir" | "-S" | "--split-string"
        ),
        "nice" => matches!(option, "-n" | "--adjustment"),
        "timeout" => matches!(option, "-k" | "--kill-after" | "-s" | "--signal"),
        "xargs" => matches!(
            option,
            "-I" | "-i"
                | "-n"
                | "-P"
                | "-d"
                | "-L"
                | "-l"
                | "-s"
                | "-E"
                | "-e"
                | "-a"
                | "--arg-file"
                | "--delimiter"
                | "--max-args"
                | "--max-procs"
        ),
        "sudo" | "doas" => matches!(
            option,
            "-u" | "-g" | "-C" | "-D" | "-h" | "-p" | "-U" | "-r" | "-t"
        ),
        "stdbuf" => matches!(option, "-i" | "-o" | "-e"),
        "ionice" => matches!(option, "-c" | "-n" | "-p"),
        _ => false,
    }
}

const WRAPPERS: &[&str] = &[
    "env", "nice", "timeout", "xargs", "sudo", "doas", "command", "exec", "nohup", "time",
    "stdbuf", "ionice", "setsid", "builtin",
];

/// `find`'s actions that run a command, up to `;` or `+`.
const FIND_ACTIONS: &[&str] = &["-exec", "-execdir", "-ok", "-okdir"];

/// The commands a `find` would run: `find . -exec rm {} ;` gives `[rm {}]`.
fn find_actions(args: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if FIND_ACTIONS.contains(&word.as_str()) {
            let command: Vec<String> = words
                .by_ref()
                .take_while(|w| *w != ";" && *w != "+")
                .cloned()
                .collect();
            if !command.is_empty() {
                found.push(command);
            }
        }
    }
    found
}

/// `argv` and, in turn, each command it wraps: `sudo env X=1 rm -rf /`
/// gives `[sudo ...]`, `[env ...]`, `[rm -rf /]`; a `find` gives the
/// commands of its `-exec` actions.
pub fn unwrap(argv: &[String]) -> Vec<Vec<String>> {
    let mut views = vec![argv.to_vec()];
    let mut rest = argv;
    while let Some(first) = rest.first() {
        let name = Path::new(first)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(first);
        if !WRAPPERS.contains(&name) {
            break;
        }
        let mut i = 1;
        while let Some(word) = rest.get(i) {
            if word == "--" {
                i += 1;
                break;
            }
            let is_option = word.starts_with('-') && word.len() > 1;
            let is_assignment = name == "env" && word.contains('=');
            if !(is_option || is_assignment) {
                break;
            }
            i += if takes_value(name, word) { 2 } else { 1 };
        }
        // `timeout` takes the duration before the command.
        if name == "timeout" && i < rest.len() {
            i += 1;
        }
        // `command -v NAME` only looks the name up.
        if name == "command" && rest[1..].iter().any(|w| w == "-v" || w == "-V") {
            break;
        }
        rest = rest.get(i..).unwrap_or_default();
        if rest.is_empty() {
            break;
        }
        views.push(rest.to_vec());
    }
    let finds: Vec<Vec<String>> = views
        .iter()
        .filter(|v| v.first().and_then(|w| Path::new(w).file_name()) == Some("find".as_ref()))
        .flat_map(|v| find_actions(&v[1..]))
        .collect();
    for command in finds {
        views.extend(unwrap(&command));
    }
    views
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
            ("timeout -s KILL 10 rm -rf x", "rm -rf x"),
            ("xargs -n 1 rm -rf", "rm -rf"),
            ("sudo -u root rm -rf x", "rm -rf x"),
            ("command rm -rf x", "rm -rf x"),
            ("exec /usr/bin/rm -rf x", "/usr/bin/rm -rf x"),
            ("sudo env nice rm -rf x", "rm -rf x"),
        ] {
            let views = unwrap(&words(line));
            assert_eq!(views.last().unwrap(), &words(inner), "{line}");
            assert_eq!(views[0], words(line));
        }
        assert_eq!(unwrap(&words("ls -l")).len(), 1);
        let views = unwrap(&words("find . -name x -exec rm -rf {} ; -print"));
        assert_eq!(views.last().unwrap(), &words("rm -rf {}"));
    }
}
