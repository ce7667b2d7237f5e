//! Which files a command may not read: secret-looking files inside the
//! root (by glob, overridable with `--secret`/`--allow-secret`), for WASI
//! tools and native commands alike, and, for native commands, the
//! credential stores in the user's home.

use std::path::Path;
use std::sync::LazyLock;

use globset::{Glob, GlobSet, GlobSetBuilder};

/// Matched by name at any depth of the root.
pub const DEFAULT_PATTERNS: &[&str] = &[
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_ed25519*",
    "id_ecdsa*",
    ".ssh",
    ".aws",
    ".netrc",
    ".npmrc",
    ".pypirc",
];

/// Credential stores under `$HOME`, hidden whether or not the root is there.
pub const HOME_SECRETS: &[&str] = &[
    ".ssh",
    ".aws",
    ".gnupg",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".docker/config.json",
    ".kube",
    ".config/gh",
    ".config/gcloud",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".pgpass",
    ".vault-token",
    ".azure",
    ".terraform.d",
    ".config/op",
    ".local/share/keyrings",
    ".password-store",
    ".claude/.credentials.json",
    ".codex/auth.json",
];

/// A glob that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("--{flag} {glob}: {source}")]
pub struct BadGlob {
    flag: &'static str,
    glob: String,
    source: globset::Error,
}

/// Compiled secret patterns. A glob without `/` matches a name at any depth;
/// one with `/` matches the path relative to the root.
#[derive(Debug, Clone)]
pub struct SecretPatterns {
    secret: Globs,
    allowed: Globs,
    /// cordon's own secrets inside the root (the compile cache's key),
    /// relative: hidden whatever `--allow-secret` says.
    own: Vec<std::path::PathBuf>,
}

/// One side of the patterns: the globs without `/` matched against the
/// last name of a path, the others against the whole relative path. Kept
/// apart, the defaults are literals, prefixes and extensions to globset,
/// never a regex to build.
#[derive(Debug, Clone)]
struct Globs {
    names: GlobSet,
    paths: GlobSet,
    /// The globs with `/`, as written (without a leading `/`).
    anchored: Vec<String>,
}

impl Globs {
    fn compile<'a>(
        flag: &'static str,
        globs: impl IntoIterator<Item = &'a str>,
    ) -> Result<Globs, BadGlob> {
        let bad = |glob: &str| {
            let glob = glob.to_string();
            move |source| BadGlob { flag, glob, source }
        };
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        let mut anchored = Vec::new();
        for glob in globs {
            let (set, text) = match glob.contains('/') {
                true => {
                    anchored.push(glob.trim_start_matches('/').to_string());
                    (&mut paths, glob.trim_start_matches('/'))
                }
                false => (&mut names, glob),
            };
            set.add(Glob::new(text).map_err(bad(glob))?);
        }
        Ok(Globs {
            names: names.build().map_err(bad(""))?,
            paths: paths.build().map_err(bad(""))?,
            anchored,
        })
    }

    fn is_match(&self, relative: &Path) -> bool {
        relative
            .file_name()
            .is_some_and(|name| self.names.is_match(name))
            || self.paths.is_match(relative)
    }
}

impl Default for SecretPatterns {
    /// The default patterns, nothing added or allowed: compiled once per
    /// process (building the matcher costs more than a run's own checks).
    fn default() -> Self {
        static DEFAULTS: LazyLock<SecretPatterns> = LazyLock::new(|| SecretPatterns {
            secret: Globs::compile("secret", DEFAULT_PATTERNS.iter().copied())
                .expect("the default patterns compile"),
            allowed: Globs::compile("allow-secret", []).expect("nothing to compile"),
            own: Vec::new(),
        });
        DEFAULTS.clone()
    }
}

impl SecretPatterns {
    /// The defaults plus `extra`, minus whatever matches `allowed`.
    ///
    /// # Errors
    ///
    /// [`BadGlob`] naming the flag and the glob.
    pub fn new(extra: &[String], allowed: &[String]) -> Result<Self, BadGlob> {
        if extra.is_empty() && allowed.is_empty() {
            return Ok(SecretPatterns::default());
        }
        let secret = DEFAULT_PATTERNS
            .iter()
            .copied()
            .chain(extra.iter().map(String::as_str));
        Ok(SecretPatterns {
            secret: Globs::compile("secret", secret)?,
            allowed: Globs::compile("allow-secret", allowed.iter().map(String::as_str))?,
            own: Vec::new(),
        })
    }

    /// Hides `relative` (a path inside the root) whatever else is allowed.
    pub fn hide_own(&mut self, relative: &Path) {
        self.own.push(relative.to_path_buf());
    }

    /// Whether the directory `relative` (inside the root) may hold a secret
    /// that a path pattern (`--secret config/prod.json`) or cordon's own
    /// names by where it is: moving the directory would move the secret
    /// out from under its pattern. A pattern component with a glob counts
    /// as matching (fail closed). Secrets matched by name stay secret
    /// wherever they move.
    pub fn may_hold(&self, relative: &Path) -> bool {
        let dir: Vec<_> = relative.components().map(|c| c.as_os_str()).collect();
        let own = self.own.iter().map(|p| p.to_string_lossy().into_owned());
        self.secret
            .anchored
            .iter()
            .cloned()
            .chain(own)
            .any(|pattern| {
                let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
                parts.len() > dir.len()
                    && dir.iter().zip(&parts).all(|(name, part)| {
                        part.contains(['*', '?', '[', '{']) || std::ffi::OsStr::new(part) == *name
                    })
            })
    }

    /// Whether `relative` (a path inside the root), or a directory on the
    /// way to it, is a secret.
    pub fn covers(&self, relative: &Path) -> bool {
        relative
            .ancestors()
            .any(|prefix| !prefix.as_os_str().is_empty() && self.is_secret(prefix))
    }

    /// Whether `relative` (a path inside the root) is a secret.
    pub fn is_secret(&self, relative: &Path) -> bool {
        self.own.iter().any(|own| own == relative)
            || (self.secret.is_match(relative) && !self.allowed.is_match(relative))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_on_the_way_to_a_path_pattern_may_hold_it() {
        let p = SecretPatterns::new(&["config/*/prod.json".into()], &[]).unwrap();
        for dir in ["config", "config/eu", "config/us"] {
            assert!(p.may_hold(Path::new(dir)), "{dir}");
        }
        for dir in ["src", "config/eu/prod.json", "app"] {
            assert!(!p.may_hold(Path::new(dir)), "{dir}");
        }
        // Secrets by name stay secrets wherever they move.
        assert!(!SecretPatterns::default().may_hold(Path::new("app")));
    }

    #[test]
    fn defaults_match_by_name_at_any_depth_and_allow_wins() {
        let p =
            SecretPatterns::new(&["config/prod.yaml".into()], &["*.example.key".into()]).unwrap();
        for secret in [
            ".env",
            "app/.env.local",
            "certs/site.pem",
            "deploy/id_rsa.pub",
        ] {
            assert!(p.is_secret(Path::new(secret)), "{secret}");
        }
        assert!(p.is_secret(Path::new("config/prod.yaml")));
        for plain in [
            "environment.md",
            "src/env.rs",
            "x/config/prod.yaml",
            "a.example.key",
        ] {
            assert!(!p.is_secret(Path::new(plain)), "{plain}");
        }
    }
}
