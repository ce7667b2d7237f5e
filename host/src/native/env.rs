//! The environment a native command starts with: a documented allowlist of
//! the host's variables, never one whose name looks like a secret unless the
//! user passes it by name, then what `--env` sets.

/// Host variables that pass through, by exact name (the locale categories
/// one by one: a prefix would let `LC_DATABASE_URL` through).
pub const ALLOWED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_ADDRESS",
    "LC_COLLATE",
    "LC_CTYPE",
    "LC_IDENTIFICATION",
    "LC_MEASUREMENT",
    "LC_MESSAGES",
    "LC_MONETARY",
    "LC_NAME",
    "LC_NUMERIC",
    "LC_PAPER",
    "LC_TELEPHONE",
    "LC_TIME",
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "TZ",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
];

/// Name fragments (upper-cased) that mark a variable as a secret.
const SECRET_FRAGMENTS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "KEY",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "AUTH",
    "COOKIE",
    "SESSION",
    "PRIVATE",
];

/// Name prefixes (upper-cased) of whole families of credentials.
const SECRET_PREFIXES: &[&str] = &["AWS_", "AZURE_", "GCP_", "GOOGLE_", "GITHUB_", "NPM_"];

/// Whether a variable's name looks like it holds a credential.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_FRAGMENTS.iter().any(|f| upper.contains(f))
        || SECRET_PREFIXES.iter().any(|p| upper.starts_with(p))
}

fn allowed(name: &str) -> bool {
    ALLOWED.contains(&name)
}

/// The command's environment from the host's: allowlisted names that do not
/// look secret, names in `pass` whatever they look like, then `set` (the
/// user's `--env`, which wins).
pub fn scrub(
    host: impl IntoIterator<Item = (String, String)>,
    pass: &[String],
    set: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = host
        .into_iter()
        .filter(|(name, _)| pass.contains(name) || (allowed(name) && !looks_secret(name)))
        .collect();
    for (name, value) in set {
        env.retain(|(n, _)| n != name);
        env.push((name.clone(), value.clone()));
    }
    env.sort();
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Vec<(String, String)> {
        [
            ("PATH", "/usr/bin"),
            ("LC_ALL", "C"),
            ("LC_DATABASE_URL", "postgres://u:p@db/x"),
            ("GITHUB_TOKEN", "ghp_x"),
            ("AWS_SECRET_ACCESS_KEY", "k"),
            ("OPENAI_API_KEY", "sk"),
            ("EDITOR", "vi"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn only_allowlisted_names_pass_and_never_secrets() {
        let env = scrub(host(), &[], &[]);
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["LC_ALL", "PATH"]);
    }

    #[test]
    fn a_secret_passes_only_by_name_and_env_wins() {
        let set = [("PATH".to_string(), "/bin".to_string())];
        let env = scrub(host(), &["OPENAI_API_KEY".to_string()], &set);
        assert!(env.contains(&("OPENAI_API_KEY".into(), "sk".into())));
        assert!(env.contains(&("PATH".into(), "/bin".into())));
        assert!(!env.iter().any(|(k, _)| k == "GITHUB_TOKEN"));
    }
}
