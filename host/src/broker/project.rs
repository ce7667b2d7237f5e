//! Rules from outside the command line: the user's own
//! (`CONFIG/cordon/rules.toml`) and a project's `.cordon/rules.toml`.
//!
//! A project's rules may only tighten (prompt, forbid): a cloned repository
//! must not approve its own commands. The user lifts that by trusting the
//! project from outside it (`cordon trust`), which records the root's real
//! path and the rules file's SHA-256 in the user's config directory; a
//! changed file is untrusted again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::rules::{Rules, RulesError};

/// The project's rules file, relative to the root.
pub const PROJECT_RULES: &str = ".cordon/rules.toml";

/// The user's own rules, in [`user_config_dir`].
pub const USER_RULES: &str = "rules.toml";

/// cordon's directory in the user's config: `$XDG_CONFIG_HOME/cordon`, or
/// `$HOME/.config/cordon`.
pub fn user_config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))
        .map(|dir| dir.join("cordon"))
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TrustStore {
    #[serde(default)]
    trusted: Vec<Trusted>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Trusted {
    root: PathBuf,
    rules_sha256: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The project's rules file, read only from inside the root (`.cordon`
/// may be a symlink to elsewhere on the host).
fn read_project_rules(root: &Path, file: &Path) -> std::io::Result<Vec<u8>> {
    let dir = file.parent().and_then(|dir| dir.canonicalize().ok());
    if let Some(dir) = dir.filter(|dir| !dir.starts_with(root)) {
        return Err(std::io::Error::other(format!(
            "in {}, outside the root; not read",
            dir.display()
        )));
    }
    crate::config_file::read(file, crate::config_file::CONFIG_LIMIT)
}

fn store_path(config: &Path) -> PathBuf {
    config.join("trusted.toml")
}

fn read_store(config: &Path) -> Result<TrustStore, String> {
    let path = store_path(config);
    match crate::config_file::read_text(&path, crate::config_file::CONFIG_LIMIT) {
        Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrustStore::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Loads the user's rules (all of them) and the project's (only those that
/// tighten, unless trusted). Returns a note when project rules were left
/// out.
///
/// # Errors
///
/// A rules file that does not parse (file, line, problem), or an unreadable
/// trust store.
pub fn load(
    rules: &mut Rules,
    root: &Path,
    config: Option<&Path>,
) -> Result<Option<String>, String> {
    if let Some(config) = config {
        let user = config.join(USER_RULES);
        if user.is_file() {
            rules.load(&user).map_err(|e: RulesError| e.to_string())?;
        }
    }
    let file = root.join(PROJECT_RULES);
    let bytes = match read_project_rules(root, &file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    let mut project = Rules::default();
    project
        .add(&String::from_utf8_lossy(&bytes), &file)
        .map_err(|e| e.to_string())?;
    let trusted = match config {
        Some(config) => read_store(config)?.trusted.contains(&Trusted {
            root: root.to_path_buf(),
            rules_sha256: sha256_hex(&bytes),
        }),
        None => false,
    };
    let left_out = rules.merge(project, !trusted);
    Ok((left_out > 0).then(|| {
        format!(
            "{left_out} allow rule(s) in {} ignored: a project's rules only tighten until you \
             trust it (cordon trust --root {})",
            file.display(),
            root.display()
        )
    }))
}

/// Trusts the project at `root` (canonical) as its rules file reads now.
/// Returns the digest recorded.
///
/// # Errors
///
/// No rules file, or a store that cannot be read or written (written
/// atomically).
pub fn trust(root: &Path, config: &Path) -> Result<String, String> {
    let file = root.join(PROJECT_RULES);
    let bytes = read_project_rules(root, &file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut check = Rules::default();
    check
        .add(&String::from_utf8_lossy(&bytes), &file)
        .map_err(|e| e.to_string())?;
    let digest = sha256_hex(&bytes);
    let mut store = read_store(config)?;
    store.trusted.retain(|t| t.root != root);
    store.trusted.push(Trusted {
        root: root.to_path_buf(),
        rules_sha256: digest.clone(),
    });
    std::fs::create_dir_all(config).map_err(|e| format!("{}: {e}", config.display()))?;
    let text = toml::to_string(&store).map_err(|e| e.to_string())?;
    crate::atomic::write(&store_path(config), text.as_bytes())
        .map_err(|e| format!("{}: {e}", store_path(config).display()))?;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOSE: &str = "[[rule]]\nprefix = [\"rm\"]\ndecision = \"allow\"\n\n\
                         [[rule]]\nprefix = [\"curl\"]\ndecision = \"forbid\"\n";

    fn argv(words: &str) -> Vec<String> {
        words.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn project_rules_only_tighten_until_trusted_and_a_change_untrusts() {
        let root = tempfile::tempdir().unwrap();
        let config = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(".cordon")).unwrap();
        let file = root.path().join(PROJECT_RULES);
        std::fs::write(&file, LOOSE).unwrap();

        let mut rules = Rules::default();
        let note = load(&mut rules, root.path(), Some(config.path())).unwrap();
        assert!(note.unwrap().contains("1 allow rule(s)"));
        assert!(rules.evaluate(&argv("rm -rf x")).is_none());
        assert!(rules.evaluate(&argv("curl x")).is_some());

        trust(root.path(), config.path()).unwrap();
        let mut rules = Rules::default();
        assert_eq!(
            load(&mut rules, root.path(), Some(config.path())).unwrap(),
            None
        );
        assert!(rules.evaluate(&argv("rm -rf x")).is_some());

        std::fs::write(&file, format!("{LOOSE}\n# changed\n")).unwrap();
        let mut rules = Rules::default();
        assert!(
            load(&mut rules, root.path(), Some(config.path()))
                .unwrap()
                .is_some()
        );
        assert!(rules.evaluate(&argv("rm -rf x")).is_none());
    }
}
