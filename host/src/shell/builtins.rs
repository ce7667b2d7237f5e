//! Builtins whose operands bash evaluates as code.
//!
//! bash evaluates arithmetic in many places that do not look like
//! arithmetic: the numbers of `test -eq`, `return`, `shift`, `read -t` or
//! `printf %d`, and the subscript of every variable name a builtin is given
//! (`read 'a[$(cmd)]'`, `unset`, `printf -v`, `test -v`). Arithmetic
//! expands the subscripts it meets, and a subscript may hold a command
//! substitution: such an operand runs a command cordon never saw. A name
//! in an arithmetic operand is no safer, since bash evaluates the value of
//! the variable it names the same way. So cordon reads these operands only
//! when they are what they look like: a plain number where a number is
//! evaluated, a plain identifier where a variable is named. Anything else,
//! and every builtin that runs text it is given (`mapfile -C`, `jobs -x`,
//! `complete`, `bind`, `fc`, `enable -f`, `let`), makes the line
//! unreadable.

/// Why running `view` as a bash builtin could run code cordon did not
/// read, if it could. The words at `unknown` (indices in `view`) are
/// wildcards, written as they stand in the line.
pub fn unreadable_use(view: &[String], unknown: &[usize]) -> Option<String> {
    let (name, args) = view.split_first()?;
    let name = name.as_str();
    let grammar = GRAMMARS.iter().find(|g| g.names.contains(&name))?;
    let options = Options::parse(args, grammar.valued);
    let operands = &args[options.end.min(args.len())..];
    // An unknown word where an option may stand may be any option (also
    // the first operand, unless `--` came before it). `printf "$msg"`
    // alone is one word, a format without arguments: it evaluates nothing.
    let lone_format = name == "printf"
        && operands.len() == 1
        && operands[0].starts_with('"')
        && operands[0].ends_with('"');
    let unknown_option = unknown.iter().any(|&i| {
        let at = i - 1;
        // A word that starts with a letter (`x="$1"`) is no option.
        let literal_start = args
            .get(at)
            .and_then(|w| w.chars().next())
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        at < options.end || (at == options.end && !options.dashdash && !literal_start)
    });
    if unknown_option && grammar.options_matter && !lone_format {
        return Some(format!("`{name}` with an option cordon cannot know"));
    }
    match name {
        "declare" | "typeset" | "local" | "export" | "readonly" => {
            declaration(name, &options, operands)
        }
        "read" => options
            .check(name, |option, value| match option {
                'a' => identifier(value),
                'n' | 'N' | 'u' => integer(value),
                't' => decimal(value),
                _ => true,
            })
            .or_else(|| all(name, operands, identifier)),
        "mapfile" | "readarray" => options
            .check(name, |option, value| match option {
                'C' => false,
                'n' | 'O' | 's' | 'u' | 'c' => integer(value),
                _ => true,
            })
            .or_else(|| all(name, operands, identifier)),
        "printf" if lone_format => None,
        "printf" if unknown.contains(&(options.end + 1)) => {
            Some("`printf` with a format cordon cannot know".into())
        }
        "printf" => printf(&options, operands),
        "unset" => all(name, operands, identifier),
        "getopts" => operands
            .get(1)
            .filter(|operand| !identifier(operand))
            .map(|operand| not_plain(name, operand)),
        "test" | "[" => test(name, args, unknown),
        "return" | "shift" | "exit" | "break" | "continue" => all(name, args, integer),
        "ulimit" => all(name, operands, |w| {
            integer(w) || matches!(w, "unlimited" | "soft" | "hard")
        }),
        "kill" => kill(args),
        "wait" => options
            .check(name, |_, value| identifier(value))
            .or_else(|| all(name, operands, job)),
        "jobs" if options.has('x') => Some("`jobs -x` runs a command".into()),
        "hash" if options.has('p') => Some("`hash -p` names the program a command runs".into()),
        "shopt" if options.has('s') || options.has('u') => {
            Some("`shopt` changes how bash reads and expands the line".into())
        }
        "set" => set(args),
        "let" | "fc" | "bind" | "complete" | "compgen" | "compopt" | "enable" | "history" => {
            Some(format!("`{name}` can run text it is given"))
        }
        _ => None,
    }
}

/// The variables `view` sets in the shell, if it runs a builtin that sets
/// variables: every name an option or operand gives it.
pub fn sets(view: &[String]) -> Vec<String> {
    let Some((name, args)) = view.split_first() else {
        return Vec::new();
    };
    let Some(grammar) = GRAMMARS.iter().find(|g| g.names.contains(&name.as_str())) else {
        return Vec::new();
    };
    let options = Options::parse(args, grammar.valued);
    let operands = args[options.end.min(args.len())..].iter();
    let values = |letter: char| {
        options
            .valued
            .iter()
            .filter(move |(l, _)| *l == letter)
            .map(|(_, v)| v.clone())
    };
    let name_of = |operand: &String| {
        operand
            .split(['=', '+'])
            .next()
            .unwrap_or_default()
            .to_string()
    };
    match name.as_str() {
        "read" => values('a').chain(operands.map(name_of)).collect(),
        "printf" | "wait" => values(if name == "printf" { 'v' } else { 'p' }).collect(),
        "getopts" => operands.skip(1).take(1).cloned().collect(),
        "declare" | "typeset" | "local" | "export" | "readonly" | "unset" | "mapfile"
        | "readarray" | "let" => operands.map(name_of).collect(),
        _ => Vec::new(),
    }
}

/// How a builtin's options are written: which take a value, and whether
/// an unknown word among them could make it run code.
struct Grammar {
    names: &'static [&'static str],
    valued: &'static str,
    options_matter: bool,
}

const GRAMMARS: &[Grammar] = &[
    Grammar {
        names: &["declare", "typeset", "local", "export", "readonly"],
        valued: "",
        options_matter: true,
    },
    Grammar {
        names: &["read"],
        valued: "adinNptu",
        options_matter: true,
    },
    Grammar {
        names: &["mapfile", "readarray"],
        valued: "dnOsuCc",
        options_matter: true,
    },
    Grammar {
        names: &["printf"],
        valued: "v",
        options_matter: true,
    },
    Grammar {
        names: &["wait"],
        valued: "p",
        options_matter: true,
    },
    Grammar {
        names: &["unset", "getopts", "jobs", "hash", "shopt", "set"],
        valued: "",
        options_matter: true,
    },
    Grammar {
        names: &[
            "test", "[", "return", "shift", "exit", "break", "continue", "ulimit", "kill",
        ],
        valued: "",
        options_matter: false,
    },
    Grammar {
        names: &[
            "let", "fc", "bind", "complete", "compgen", "compopt", "enable", "history",
        ],
        valued: "",
        options_matter: false,
    },
];

/// Options in getopts style, as bash's builtins read them: clusters
/// (`-rn3`), a value attached or in the next word, up to the first word
/// that is not an option or `--`.
struct Options {
    /// Letters given without a value (`-` or `+` clusters).
    flags: Vec<char>,
    /// Letters given with their value.
    valued: Vec<(char, String)>,
    /// Where the operands start, as an index in `args`.
    end: usize,
    /// `--` ended the options.
    dashdash: bool,
}

impl Options {
    fn parse(args: &[String], valued: &str) -> Options {
        let mut options = Options {
            flags: Vec::new(),
            valued: Vec::new(),
            end: args.len(),
            dashdash: false,
        };
        let mut i = 0;
        while let Some(arg) = args.get(i) {
            if arg == "--" {
                options.end = i + 1;
                options.dashdash = true;
                return options;
            }
            let Some(cluster) = arg.strip_prefix(['-', '+']).filter(|c| !c.is_empty()) else {
                options.end = i;
                return options;
            };
            i += 1;
            for (at, letter) in cluster.char_indices() {
                if !valued.contains(letter) {
                    options.flags.push(letter);
                    continue;
                }
                let attached = &cluster[at + letter.len_utf8()..];
                let value = if attached.is_empty() {
                    i += 1;
                    args.get(i - 1).cloned().unwrap_or_default()
                } else {
                    attached.to_string()
                };
                options.valued.push((letter, value));
                break;
            }
        }
        options
    }

    fn has(&self, letter: char) -> bool {
        self.flags.contains(&letter) || self.valued.iter().any(|(l, _)| *l == letter)
    }

    /// The first option value that `plain` refuses, as a reason.
    fn check(&self, builtin: &str, plain: impl Fn(char, &str) -> bool) -> Option<String> {
        self.valued
            .iter()
            .find(|(letter, value)| !plain(*letter, value))
            .map(|(letter, value)| not_plain(builtin, &format!("-{letter} {value}")))
    }
}

/// Why an arithmetic or variable-naming test operand could run code, if
/// it could: the operator of `test`/`[`/`[[ ]]` and the operands next to
/// it.
pub fn test_operands(operator: &str, left: Option<&str>, right: &str) -> Option<String> {
    let plain = match operator {
        "-eq" | "-ne" | "-lt" | "-le" | "-gt" | "-ge" => left.is_none_or(integer) && integer(right),
        "-v" | "-R" => identifier(right),
        _ => true,
    };
    (!plain).then(|| format!("the operands of `{operator}`, which bash evaluates as arithmetic"))
}

fn not_plain(builtin: &str, operand: &str) -> String {
    format!("`{builtin} {operand}`: an operand bash evaluates as code")
}

/// A name bash accepts for a variable, with no subscript.
pub fn identifier(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// A decimal or hexadecimal integer, maybe signed: arithmetic that names
/// nothing.
fn integer(word: &str) -> bool {
    let digits = word.strip_prefix(['-', '+']).unwrap_or(word);
    match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()),
        None => !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()),
    }
}

/// `read -t`'s timeout: digits with at most one point.
fn decimal(word: &str) -> bool {
    let (whole, fraction) = word.split_once('.').unwrap_or((word, ""));
    !(whole.is_empty() && fraction.is_empty())
        && whole
            .chars()
            .chain(fraction.chars())
            .all(|c| c.is_ascii_digit())
}

/// A job or process: a number, or a `%` job spec that is not arithmetic.
fn job(word: &str) -> bool {
    integer(word)
        || word.strip_prefix('%').is_some_and(|spec| {
            spec.chars()
                .all(|c| c.is_ascii_alphanumeric() || "%+-?_".contains(c))
        })
}

/// Every word of `words` must pass `plain`.
fn all(builtin: &str, words: &[String], plain: impl Fn(&str) -> bool) -> Option<String> {
    words
        .iter()
        .find(|w| !plain(w))
        .map(|w| not_plain(builtin, w))
}

/// `declare`, `typeset`, `local`, `export`, `readonly`: `NAME` or
/// `NAME=VALUE` operands, no integer or reference attribute (both make
/// later assignments and reads evaluate), no compound array value (its
/// subscripts are arithmetic).
fn declaration(builtin: &str, options: &Options, operands: &[String]) -> Option<String> {
    let declares = matches!(builtin, "declare" | "typeset" | "local");
    if declares && (options.has('i') || options.has('n')) {
        return Some(format!(
            "`{builtin} -i` or `-n` makes bash evaluate values later"
        ));
    }
    operands
        .iter()
        .find(|operand| {
            let (name, value) = match operand.split_once('=') {
                Some((name, value)) => (name.strip_suffix('+').unwrap_or(name), Some(value)),
                None => (operand.as_str(), None),
            };
            !identifier(name) || value.is_some_and(|v| v.starts_with('('))
        })
        .map(|operand| not_plain(builtin, operand))
}

/// `printf [-v NAME] FORMAT ARGS`: a known format, and every argument a
/// numeric conversion (or a `*` width) takes a plain number.
fn printf(options: &Options, operands: &[String]) -> Option<String> {
    if let Some(why) = options.check("printf", |_, name| identifier(name)) {
        return Some(why);
    }
    let (format, values) = operands.split_first()?;
    let kinds = conversions(format);
    if !kinds.contains(&true) {
        return None;
    }
    // The format is reused until the arguments run out.
    values
        .iter()
        .zip(kinds.iter().cycle())
        .find(|(value, numeric)| **numeric && !numeric_literal(value))
        .map(|(value, _)| not_plain("printf", value))
}
/// What a printf number may be without evaluation: a number, or a
/// character constant (`'a`).
fn numeric_literal(word: &str) -> bool {
    integer(word)
        || decimal(word.strip_prefix(['-', '+']).unwrap_or(word))
        || word.starts_with(['\'', '"'])
}

/// For each argument a printf format takes, whether it is taken as a
/// number (`%d`, `%x`, `%f`, `%(...)T`, a `*` width or precision).
fn conversions(format: &str) -> Vec<bool> {
    let mut kinds = Vec::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            chars.next();
            continue;
        }
        if c != '%' {
            continue;
        }
        while let Some(&next) = chars.peek() {
            match next {
                '*' => kinds.push(true),
                '-' | '+' | ' ' | '#' | '0'..='9' | '.' | '\'' => {}
                _ => break,
            }
            chars.next();
        }
        match chars.next() {
            Some('%') | None => {}
            Some('(') => {
                chars.by_ref().find(|&c| c == ')');
                chars.next();
                kinds.push(true);
            }
            Some(conversion) => kinds.push("diouxXeEfFgGaA".contains(conversion)),
        }
    }
    kinds
}

/// `test`/`[`: every arithmetic or variable-naming operator's operands
/// plain, and an unknown word (`unknown`, indices in the view) only where
/// it cannot be an operator: one quoted word as the operand of a known
/// operator, or the only word.
fn test(builtin: &str, args: &[String], unknown: &[usize]) -> Option<String> {
    let args = match builtin {
        "[" => args.strip_suffix(&["]".to_string()]).unwrap_or(args),
        _ => args,
    };
    let arithmetic = args.iter().enumerate().find_map(|(i, operator)| {
        let right = args.get(i + 1)?;
        let left = i.checked_sub(1).map(|l| args[l].as_str());
        test_operands(operator, left, right)
    });
    if arithmetic.is_some() {
        return arithmetic;
    }
    let operand_position = |i: usize| match args.len() {
        1 => true,
        2 => i == 1,
        3 => i != 1,
        _ => false,
    };
    let one_word = |w: &str| w.len() >= 2 && w.starts_with('"') && w.ends_with('"');
    unknown
        .iter()
        .map(|&i| i - 1)
        .find(|&i| i < args.len() && !(operand_position(i) && one_word(&args[i])))
        .map(|i| format!("`{builtin}` with {} where an operator may stand", args[i]))
}

/// `kill`: signals by name or number, processes by number or job spec.
fn kill(args: &[String]) -> Option<String> {
    let signal =
        |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '+');
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let plain = match word.as_str() {
            "-s" | "-n" => words
                .next()
                .is_some_and(|value| signal(value) && (word == "-s" || integer(value))),
            w if w.starts_with('-') => signal(&w[1..]),
            w => job(w),
        };
        if !plain {
            return Some(not_plain("kill", word));
        }
    }
    None
}

/// Options of `set` that change how bash reads a line, what it runs or
/// where it looks: keyword arguments become environment (`-k`), history
/// expansion, privileged and POSIX modes, job control.
const SET_LETTERS: &str = "kHpmt";
const SET_NAMES: &[&str] = &[
    "keyword",
    "histexpand",
    "privileged",
    "monitor",
    "onecmd",
    "posix",
    "interactive-comments",
    "vi",
    "emacs",
    "history",
];

/// Whether `set -o NAME` (or `bash -o NAME`) changes how bash reads or
/// runs a line.
pub fn set_option_changes_reading(name: &str) -> bool {
    SET_NAMES.contains(&name) || !name.chars().all(|c| c.is_ascii_lowercase() || c == '-')
}

/// `set`: refuses the options in [`SET_LETTERS`] and [`SET_NAMES`].
fn set(args: &[String]) -> Option<String> {
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if word == "--" || word == "-" {
            break;
        }
        let Some(cluster) = word.strip_prefix(['-', '+']) else {
            break;
        };
        if cluster.contains('o') {
            let name = words.next().map_or("", String::as_str);
            if set_option_changes_reading(name) {
                return Some(format!("`set -o {name}` changes how bash runs the line"));
            }
        }
        if let Some(letter) = cluster
            .chars()
            .find(|c| SET_LETTERS.contains(*c) || !c.is_ascii_alphabetic())
        {
            return Some(format!("`set -{letter}` changes how bash runs the line"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn operands_that_bash_evaluates_must_be_plain() {
        for line in [
            "read a[$(x)]",
            "read -a a[1]",
            "read -t a[$(x)] v",
            "read -rn a[1] v",
            "printf -v a[$(x)] %s v",
            "printf %d a[$(x)]",
            "printf %s%d x a[1]",
            "printf %*s a[1] x",
            "printf %(%F)T a[1]",
            "declare -i i",
            "local -n ref=x",
            "declare a[$(x)]=1",
            "export a[1]=1",
            "declare -a a=([$(x)]=1)",
            "unset a[$(x)]",
            "getopts ab a[1]",
            "test a[1] -eq 0",
            "[ 0 -lt x ]",
            "test -v a[$(x)]",
            "return a[1]",
            "shift x",
            "exit a[$(x)]",
            "break a[1]",
            "ulimit -n a[1]",
            "kill -s a[1] 1",
            "kill a[1]",
            "wait -p a[1] 1",
            "mapfile -C cb a",
            "mapfile -n a[1] a",
            "jobs -x touch x",
            "hash -p /tmp/x ls",
            "shopt -s expand_aliases",
            "let x=1",
            "enable -f ./evil.so x",
            "complete -C touch x",
        ] {
            assert!(unreadable_use(&words(line), &[]).is_some(), "{line}");
        }
    }

    #[test]
    fn plain_operands_are_read() {
        for line in [
            "read -r line",
            "read -rt 0.5 -n 3 -p prompt a b",
            "printf -v out %s a[1]",
            "printf %d:%s 3 a[1]",
            "printf %s a[1]",
            "declare -a list",
            "export PATHS=x NAME",
            "local x=1 y",
            "unset -f name",
            "test x = a[1]",
            "[ 3 -eq 0x1f ]",
            "test -v name",
            "return 1",
            "exit",
            "ulimit -n 1024",
            "kill -9 %1 123",
            "kill -s TERM 5",
            "wait -n %1",
            "mapfile -t -n 3 lines",
            "shopt -q extglob",
            "hash -r",
        ] {
            assert_eq!(unreadable_use(&words(line), &[]), None, "{line}");
        }
    }

    #[test]
    fn clusters_attached_values_and_unknown_options() {
        for line in [
            "printf -va[1] %s x",
            "jobs -xr touch x",
            "hash -rp /bin/touch x",
            "mapfile -c1 -Ctouch a",
            "read -aa[1]",
            "set -k",
            "set -o posix",
            "set -eo keyword",
        ] {
            assert!(unreadable_use(&words(line), &[]).is_some(), "{line}");
        }
        // `declare -$f x`, `mapfile -$o touch a`, `declare $f x`,
        // `printf -- $fmt a[1]`, `[ "$a" "$op" "$b" ]`, `[ $x ]`.
        for (line, unknown) in [
            ("declare -$f x", 1),
            ("mapfile -$o touch a", 1),
            ("declare $f x", 1),
            ("printf -- $fmt a[1]", 2),
            ("[ \"$a\" \"$op\" \"$b\" ]", 2),
            ("[ $x ]", 1),
            ("test \"$n\" -eq 1", 1),
        ] {
            assert!(unreadable_use(&words(line), &[unknown]).is_some(), "{line}");
        }
        for (line, unknown) in [
            ("local x=\"$1\"", 1),
            ("printf \"$msg\"", 1),
            ("printf %s \"$f\"", 2),
            ("[ -f \"$f\" ]", 2),
            ("test \"$x\" = y", 1),
            ("echo $x", 1),
        ] {
            assert_eq!(unreadable_use(&words(line), &[unknown]), None, "{line}");
        }
        assert_eq!(sets(&words("read -ra list -p x a b")), ["list", "a", "b"]);
        assert_eq!(sets(&words("printf -vPATH %s x")), ["PATH"]);
        assert_eq!(sets(&words("wait -n -p pid")), ["pid"]);
        assert_eq!(sets(&words("export A=1 B+=2")), ["A", "B"]);
    }
}
