//! Variables that decide what runs: set by a line, they make it
//! unreadable.
//!
//! Some variables steer the shell itself (`PATH` picks the program a name
//! runs, `IFS` how words split, `BASH_ENV` a file every bash sources,
//! `PS4` and `PROMPT_COMMAND` run code, `BASH_FUNC_name%%` defines a
//! function, `BASH_ALIASES`/`BASH_CMDS` rename commands), and others the
//! programs a line runs obey (the dynamic loader's `LD_PRELOAD`, git's
//! `GIT_*` and the config under `HOME`, the editor or pager a tool
//! starts, an interpreter's startup options). cordon judges a command by
//! its words; when one of these is set, those words no longer say what
//! runs.

/// Names that steer what runs, whatever value they are given.
const STEERING: &[&str] = &[
    "PATH",
    "HOME",
    "XDG_CONFIG_HOME",
    "IFS",
    "ENV",
    "BASH_ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "POSIXLY_CORRECT",
    "PS0",
    "PS1",
    "PS2",
    "PS3",
    "PS4",
    "PROMPT_COMMAND",
    "BASH_ALIASES",
    "BASH_CMDS",
    "CDPATH",
    "GLOBIGNORE",
    "EXECIGNORE",
    "BASH_XTRACEFD",
    "BASH_LOADABLES_PATH",
    "INPUTRC",
    "EDITOR",
    "VISUAL",
    "PAGER",
    "MANPAGER",
    "LESS",
    "LESSOPEN",
    "LESSCLOSE",
    "LESSKEY",
    "LESSKEYIN",
    "SSH_ASKPASS",
    "SUDO_ASKPASS",
    "NODE_OPTIONS",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PERL5OPT",
    "PERL5LIB",
    "PERLLIB",
    "RUBYOPT",
    "RUBYLIB",
    "GCONV_PATH",
    "LOCPATH",
    "SHELL",
    "BROWSER",
    "TAR_OPTIONS",
    "RSYNC_RSH",
    "MAKEFLAGS",
    "MFLAGS",
    // bash gives these the integer attribute itself: an assignment is
    // evaluated as arithmetic.
    "RANDOM",
    "SRANDOM",
    "OPTIND",
    "OPTERR",
    "HISTCMD",
    "LINENO",
    "SECONDS",
    "BASH_COMPAT",
];

/// Prefixes of families that steer what runs.
const STEERING_FAMILIES: &[&str] = &["BASH_FUNC_", "LD_", "DYLD_", "GIT_", "npm_config_"];

/// Variables bash obeys as it starts: present in the environment a line
/// runs with, they run code before the line's first command.
const STARTUP: &[&str] = &["ENV", "BASH_ENV", "SHELLOPTS", "BASHOPTS", "PS4"];

/// Whether setting `name` may change what a command runs.
pub fn steers(name: &str) -> bool {
    STEERING.contains(&name) || STEERING_FAMILIES.iter().any(|p| name.starts_with(p))
}

/// Whether a shell started with `name` in its environment runs code it
/// names (an exported function is `BASH_FUNC_name%%`).
pub fn runs_at_startup(name: &str) -> bool {
    STARTUP.contains(&name) || name.starts_with("BASH_FUNC_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_steer() {
        for name in [
            "PATH",
            "BASH_ENV",
            "LD_PRELOAD",
            "GIT_DIR",
            "BASH_FUNC_ls%%",
            "PS4",
        ] {
            assert!(steers(name), "{name}");
        }
        for name in ["CC", "RUST_LOG", "path", "MY_PATH", "GITHUB_TOKEN"] {
            assert!(!steers(name), "{name}");
        }
        assert!(runs_at_startup("BASH_FUNC_x%%") && !runs_at_startup("PATH"));
    }
}
