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
/// read, if it could.
pub fn unreadable_use(view: &[String]) -> Option<String> {
    let (name, args) = view.split_first()?;
    match name.as_str() {
        "declare" | "typeset" | "local" | "export" | "readonly" => declaration(name, args),
        "read" => options_then(
            name,
            args,
            "adinNptu",
            |option, value| match option {
                'a' => identifier(value),
                'n' | 'N' | 'u' => integer(value),
                't' => decimal(value),
                _ => true,
            },
            identifier,
        ),
        "mapfile" | "readarray" => options_then(
            name,
            args,
            "dnOsuCc",
            |option, value| match option {
                'C' => false,
                'n' | 'O' | 's' | 'u' | 'c' => integer(value),
                _ => true,
            },
            identifier,
        ),
        "printf" => printf(args),
        "unset" => operands(name, args, identifier),
        "getopts" => args
            .get(1)
            .filter(|operand| !identifier(operand))
            .map(|operand| not_plain(name, operand)),
        "test" | "[" => test(name, args),
        "return" | "shift" | "exit" | "break" | "continue" => operands(name, args, integer),
        "ulimit" => operands(name, args, |w| {
            integer(w) || matches!(w, "unlimited" | "soft" | "hard")
        }),
        "kill" => kill(args),
        "wait" => options_then(name, args, "p", |_, value| identifier(value), job),
        "jobs" if args.iter().any(|a| a == "-x") => Some("`jobs -x` runs a command".into()),
        "hash" if args.iter().any(|a| a.starts_with("-p")) => {
            Some("`hash -p` names the program a command runs".into())
        }
        "shopt"
            if args
                .iter()
                .any(|a| a.starts_with(['-', '+']) && a.contains(['s', 'u'])) =>
        {
            Some("`shopt` changes how bash reads and expands the line".into())
        }
        "let" => Some("`let` evaluates arithmetic".into()),
        "fc" | "bind" | "complete" | "compgen" | "compopt" | "enable" | "history" => {
            Some(format!("`{name}` can run text it is given"))
        }
        _ => None,
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

/// Every operand (a word not starting with `-`) must pass `plain`.
fn operands(builtin: &str, args: &[String], plain: impl Fn(&str) -> bool) -> Option<String> {
    args.iter()
        .filter(|a| !(a.starts_with('-') && a.len() > 1 && !integer(a)) && *a != "--")
        .find(|a| !plain(a))
        .map(|a| not_plain(builtin, a))
}

/// Options in getopts style (`-rn 3`, `-n3`), those in `valued` taking a
/// value that `value_ok` checks; then the operands, which `operand_ok`
/// checks.
fn options_then(
    builtin: &str,
    args: &[String],
    valued: &str,
    value_ok: impl Fn(char, &str) -> bool,
    operand_ok: impl Fn(&str) -> bool,
) -> Option<String> {
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        i += 1;
        if arg == "--" {
            break;
        }
        let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.is_empty()) else {
            i -= 1;
            break;
        };
        for (at, option) in cluster.char_indices() {
            if !valued.contains(option) {
                continue;
            }
            let attached = &cluster[at + option.len_utf8()..];
            let value = if attached.is_empty() {
                i += 1;
                args.get(i - 1).map_or("", String::as_str)
            } else {
                attached
            };
            if !value_ok(option, value) {
                return Some(not_plain(builtin, &format!("-{option} {value}")));
            }
            break;
        }
    }
    args[i.min(args.len())..]
        .iter()
        .find(|operand| !operand_ok(operand))
        .map(|operand| not_plain(builtin, operand))
}

/// `declare`, `typeset`, `local`, `export`, `readonly`: `NAME` or
/// `NAME=VALUE` operands, no integer or reference attribute (both make
/// later assignments and reads evaluate), no compound array value (its
/// subscripts are arithmetic).
fn declaration(builtin: &str, args: &[String]) -> Option<String> {
    let declares = matches!(builtin, "declare" | "typeset" | "local");
    for arg in args {
        if let Some(flags) = arg.strip_prefix(['-', '+']) {
            if declares && flags.contains(['i', 'n']) {
                return Some(format!(
                    "`{builtin} {arg}` makes bash evaluate values later"
                ));
            }
            continue;
        }
        let (name, value) = match arg.split_once('=') {
            Some((name, value)) => (name.strip_suffix('+').unwrap_or(name), Some(value)),
            None => (arg.as_str(), None),
        };
        if !identifier(name) || value.is_some_and(|v| v.starts_with('(')) {
            return Some(not_plain(builtin, arg));
        }
    }
    None
}

/// `printf [-v NAME] FORMAT ARGS`: every argument a numeric conversion
/// (or a `*` width) takes must be a plain number.
fn printf(args: &[String]) -> Option<String> {
    let mut args = args;
    if let [flag, name, rest @ ..] = args
        && flag == "-v"
    {
        if !identifier(name) {
            return Some(not_plain("printf -v", name));
        }
        args = rest;
    }
    if args.first().is_some_and(|a| a == "--") {
        args = &args[1..];
    }
    let (format, values) = args.split_first()?;
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

/// `test`/`[`: every arithmetic or variable-naming operator's operands.
fn test(builtin: &str, args: &[String]) -> Option<String> {
    let args = match builtin {
        "[" => args.strip_suffix(&["]".to_string()]).unwrap_or(args),
        _ => args,
    };
    args.iter().enumerate().find_map(|(i, operator)| {
        let right = args.get(i + 1)?;
        let left = i.checked_sub(1).map(|l| args[l].as_str());
        test_operands(operator, left, right)
    })
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
            assert!(unreadable_use(&words(line)).is_some(), "{line}");
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
            assert_eq!(unreadable_use(&words(line)), None, "{line}");
        }
    }
}
