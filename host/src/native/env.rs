//! The environment a native command starts with: the host's, so that
//! toolchains and virtual environments behave as they do outside
//! (`PYENV_VERSION`, `VIRTUAL_ENV`, `RUSTFLAGS`, `JAVA_HOME`, ...), less
//! every variable that looks like a credential, by its name or by its
//! value. `--env-pass NAME` keeps one anyway, `--env-drop PATTERN` leaves
//! more out, then what `--env` sets wins. The names left out are reported
//! (never the values). The lists are in docs/SANDBOX.md.

use globset::{Glob, GlobSet, GlobSetBuilder};

/// Name fragments (upper-cased) that mark a variable as a credential.
const SECRET_FRAGMENTS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "KEY",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "AUTH",
    "COOKIE",
    "SESSION",
    "PRIVATE",
    "SIGNATURE",
];

/// Words of a name (between underscores) that mark a credential only
/// whole: `GITHUB_PAT` but not `LD_LIBRARY_PATH`, `MYSQL_PWD` but not the
/// working directory's `PWD` and `OLDPWD` (see [`name_looks_secret`]).
const SECRET_WORDS: &[&str] = &["PAT", "DSN", "PASS", "PW", "PWD"];

/// Name prefixes (upper-cased) of whole families of credentials: cloud
/// providers and the services agents are given keys for.
const SECRET_PREFIXES: &[&str] = &[
    "AWS_",
    "AZURE_",
    "ARM_",
    "GCP_",
    "GCLOUD_",
    "GOOGLE_",
    "CLOUDSDK_",
    "DIGITALOCEAN_",
    "HEROKU_",
    "GITHUB_",
    "GH_",
    "GITLAB_",
    "NPM_",
    "OPENAI_",
    "ANTHROPIC_",
    "HF_",
    "HUGGING",
    "VAULT_",
    "DOCKER_AUTH",
    "TWINE_",
    "SLACK_",
    "STRIPE_",
    "SENTRY_",
];

/// Value prefixes of known token formats (GitHub, GitLab, Slack, OpenAI
/// and Anthropic, Stripe, npm, PyPI, Hugging Face, SendGrid, Shopify,
/// DigitalOcean, Grafana), taken as a credential when the value is at
/// least [`TOKEN_MIN`] long.
const TOKEN_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxr-",
    "xoxs-",
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "npm_",
    "pypi-",
    "hf_",
    "SG.",
    "shpat_",
    "dop_v1_",
    "glsa_",
    "glrt-",
    "glptt-",
    "gldt-",
    "ya29.",
    "lin_api_",
    "ATATT",
    "dapi",
    "xapp-",
    "AGE-SECRET-KEY-",
];

/// What a value holding a credential among other text says first
/// (lower-cased): a URL's or a connection string's password or key, a
/// netrc line, a webhook that is its own key.
const SECRET_MARKERS: &[&str] = &[
    "password=",
    "passwd=",
    "pwd=",
    "accountkey=",
    "sharedaccesskey=",
    "sharedaccesssignature=",
    "client_secret=",
    "access_token=",
    "api_key=",
    "apikey=",
    "token=",
    " password ",
    "\"password\"",
    "\"secret\"",
    "\"token\"",
    "authorization:",
    "hooks.slack.com/services/",
    "discord.com/api/webhooks/",
];

const TOKEN_MIN: usize = 20;

/// Whether a variable's name looks like it holds a credential.
pub fn name_looks_secret(name: &str) -> bool {
    if name == "PWD" || name == "OLDPWD" {
        return false; // the working directory
    }
    // GIT_AUTHOR_NAME is who commits, not an authorization.
    let upper = name.to_ascii_uppercase().replace("AUTHOR", "");
    // A provider's trust store (AWS_CA_BUNDLE) is what a client behind a
    // TLS proxy needs, not a credential.
    let trust_store = ["CA_BUNDLE", "CA_CERT", "CERTS_FILE"]
        .iter()
        .any(|t| upper.contains(t));
    SECRET_FRAGMENTS.iter().any(|f| upper.contains(f))
        || (SECRET_PREFIXES.iter().any(|p| upper.starts_with(p)) && !trust_store)
        || upper.split('_').any(|word| SECRET_WORDS.contains(&word))
}

/// Whether a value looks like a credential: a PEM block (a private key),
/// a JSON Web Token, a known token format, a cloud access key id, a URL
/// carrying a password (in its user part or its query), a connection
/// string's key, a netrc line, a webhook URL, an HTTP Authorization value
/// (`Bearer ...`, `Basic ...`), JSON holding a password, secret or token,
/// a key's base64 body without its PEM lines.
pub fn value_looks_secret(value: &str) -> bool {
    let value = value.trim();
    let jwt = || {
        let parts: Vec<&str> = value.split('.').collect();
        parts.len() == 3
            && value.starts_with("eyJ")
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    };
    let access_key_id = || {
        value.len() == 20
            && ["AKIA", "ASIA"].iter().any(|p| value.starts_with(p))
            && value
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    let url_password = || {
        value.split_once("://").is_some_and(|(_, rest)| {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            authority
                .rsplit_once('@')
                .is_some_and(|(userinfo, _)| userinfo.contains(':'))
        })
    };
    let lower = value.to_ascii_lowercase();
    // A key's DER body, base64 without its PEM lines, starts so.
    let key_body = || {
        value.starts_with("MII")
            && value.len() >= 100
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
    };
    value.contains("-----BEGIN ")
        || ["bearer ", "basic ", "token "]
            .iter()
            .any(|scheme| lower.starts_with(scheme) && value.len() >= 16)
        || key_body()
        || SECRET_MARKERS.iter().any(|m| lower.contains(m))
        || (value.len() >= TOKEN_MIN && TOKEN_PREFIXES.iter().any(|p| value.starts_with(p)))
        || (value.starts_with("AIza") && value.len() == 39)
        || jwt()
        || access_key_id()
        || url_password()
}

/// Whether `name` is a locale variable, which passes only holding a
/// locale's name (`LC_DATABASE_URL` would otherwise carry anything).
fn is_locale(name: &str) -> bool {
    name == "LANG" || name == "LANGUAGE" || name.starts_with("LC_")
}

fn locale_name(value: &str) -> bool {
    value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.@:-".contains(&b))
}

/// What the user chose beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct EnvChoice {
    /// Names passed whatever they look like (`--env-pass`).
    pub pass: Vec<String>,
    /// Name patterns left out too (`--env-drop`, globs).
    pub drop: Vec<String>,
}

impl EnvChoice {
    /// Checks the `--env-drop` patterns.
    ///
    /// # Errors
    ///
    /// A pattern that is not a glob, named in the message.
    pub fn drop_set(&self) -> Result<GlobSet, String> {
        let mut set = GlobSetBuilder::new();
        for pattern in &self.drop {
            set.add(Glob::new(pattern).map_err(|e| format!("--env-drop {pattern}: {e}"))?);
        }
        set.build().map_err(|e| e.to_string())
    }
}

/// The host's side of every native command's environment: the variables
/// that pass and the names left out. It depends only on the host's
/// environment and the user's choice, so a session decides it once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostEnvironment {
    /// The host variables that pass, sorted.
    kept: Vec<(String, String)>,
    /// The host variables left out (names only), sorted.
    dropped: Vec<String>,
}

impl HostEnvironment {
    /// Every host variable but those `choice` drops or that look like a
    /// credential (a name in `choice.pass` passes whatever it looks like,
    /// `--env-drop` winning). A drop pattern that is not a glob drops
    /// everything (checked before, see [`EnvChoice::drop_set`]).
    pub fn scrub(host: impl IntoIterator<Item = (String, String)>, choice: &EnvChoice) -> Self {
        let drop = choice.drop_set().ok();
        let mut env = HostEnvironment::default();
        for (name, value) in host {
            let dropped = drop.as_ref().is_none_or(|d| d.is_match(&name))
                || (!choice.pass.contains(&name)
                    && if is_locale(&name) {
                        !locale_name(&value)
                    } else {
                        name_looks_secret(&name) || value_looks_secret(&value)
                    });
            if dropped {
                env.dropped.push(name);
            } else {
                env.kept.push((name, value));
            }
        }
        env.kept.sort();
        env.dropped.sort();
        env
    }

    /// The names left out, sorted.
    pub fn dropped(&self) -> &[String] {
        &self.dropped
    }

    /// A command's environment: the variables that pass, then `set` (the
    /// user's `--env`, which wins), sorted.
    pub fn with(&self, set: &[(String, String)]) -> Vec<(String, String)> {
        let mut vars = self.kept.clone();
        for (name, value) in set {
            vars.retain(|(n, _)| n != name);
            vars.push((name.clone(), value.clone()));
        }
        vars.sort();
        vars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Vec<(String, String)> {
        [
            ("PATH", "/usr/bin"),
            ("LC_ALL", "C.UTF-8"),
            ("LANGUAGE", "en_US:en"),
            ("LC_DATABASE_URL", "postgres://u:p@db/x"),
            ("GITHUB_TOKEN", "ghp_x"),
            ("AWS_SECRET_ACCESS_KEY", "k"),
            ("OPENAI_API_KEY", "sk"),
            ("EDITOR", "vi"),
            ("PYENV_VERSION", "3.12.1"),
            ("VIRTUAL_ENV", "/home/u/.venv"),
            ("RUSTFLAGS", "-C target-cpu=native"),
            ("DATABASE_URL", "postgres://app:hunter2@db:5432/app"),
            ("SOME_CONFIG", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc"),
            ("BUILD_ID", "ghp_0123456789abcdefghijABCDEFGHIJ012345"),
            (
                "JWT_LIKE",
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
            ),
            ("UPSTREAM", "AKIAIOSFODNN7EXAMPLE"),
            ("HOMEPAGE", "https://user@example.com/x"),
            ("GIT_AUTHOR_NAME", "A U Thor"),
            ("LD_LIBRARY_PATH", "/opt/lib"),
            ("SENTRY_DSN", "x"),
            ("AWS_CA_BUNDLE", "/etc/ssl/proxy.pem"),
            ("MYSQL_PWD", "hunter2"),
            ("DB_PW", "hunter2"),
            ("OLDPWD", "/home/u"),
            (
                "SPRING_DATASOURCE_URL",
                "jdbc:postgresql://db/app?user=a&password=b",
            ),
            (
                "STORAGE",
                "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k",
            ),
            ("NOTIFY", "https://hooks.slack.com/services/T0/B0/x"),
            ("SERVICE_X", "ya29.a0AfH6SMBxxxxxxxxxxxxxxxx"),
            ("UPSTREAM_HEADER", "Bearer abcdef1234567890"),
            ("APP_JSON", "{\"password\":\"hunter2\"}"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn scrub(
        host: Vec<(String, String)>,
        choice: &EnvChoice,
        set: &[(String, String)],
    ) -> (Vec<(String, String)>, Vec<String>) {
        let env = HostEnvironment::scrub(host, choice);
        (env.with(set), env.dropped().to_vec())
    }

    fn names(vars: &[(String, String)]) -> Vec<&str> {
        vars.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn everything_passes_but_credentials_by_name_or_value() {
        let (vars, dropped) = scrub(host(), &EnvChoice::default(), &[]);
        assert_eq!(
            names(&vars),
            [
                "AWS_CA_BUNDLE",
                "EDITOR",
                "GIT_AUTHOR_NAME",
                "HOMEPAGE",
                "LANGUAGE",
                "LC_ALL",
                "LD_LIBRARY_PATH",
                "OLDPWD",
                "PATH",
                "PYENV_VERSION",
                "RUSTFLAGS",
                "VIRTUAL_ENV"
            ]
        );
        assert_eq!(
            dropped,
            [
                "APP_JSON",
                "AWS_SECRET_ACCESS_KEY",
                "BUILD_ID",
                "DATABASE_URL",
                "DB_PW",
                "GITHUB_TOKEN",
                "JWT_LIKE",
                "LC_DATABASE_URL",
                "MYSQL_PWD",
                "NOTIFY",
                "OPENAI_API_KEY",
                "SENTRY_DSN",
                "SERVICE_X",
                "SOME_CONFIG",
                "SPRING_DATASOURCE_URL",
                "STORAGE",
                "UPSTREAM",
                "UPSTREAM_HEADER"
            ]
        );
    }

    #[test]
    fn pass_and_drop_adjust_the_defaults_and_env_wins() {
        let choice = EnvChoice {
            pass: vec!["OPENAI_API_KEY".into(), "EDITOR".into()],
            drop: vec!["EDITOR".into(), "PY*".into()],
        };
        let set = [("PATH".to_string(), "/bin".to_string())];
        let (vars, dropped) = scrub(host(), &choice, &set);
        assert!(vars.contains(&("OPENAI_API_KEY".into(), "sk".into())));
        assert!(vars.contains(&("PATH".into(), "/bin".into())));
        assert!(!vars.contains(&("PATH".into(), "/usr/bin".into())));
        for gone in ["EDITOR", "PYENV_VERSION", "GITHUB_TOKEN"] {
            assert!(dropped.iter().any(|d| d == gone), "{gone}");
            assert!(!names(&vars).contains(&gone), "{gone}");
        }
    }

    #[test]
    fn a_bad_drop_pattern_is_an_error_and_drops_everything() {
        let choice = EnvChoice {
            pass: vec![],
            drop: vec!["[".into()],
        };
        assert!(choice.drop_set().unwrap_err().starts_with("--env-drop ["));
        assert!(scrub(host(), &choice, &[]).0.is_empty());
    }
}
