//! Rules from outside the command line: the user's own
//! (`CONFIG/cordon/rules.toml`) and a project's `.cordon/rules.toml`; and
//! the trust store both a project's rules and its settings
//! (`.cordon/config.toml`, see [`crate::settings`]) answer to.
//!
//! A project's rules may only tighten (prompt, forbid): a cloned repository
//! must not approve its own commands. The user lifts that by trusting the
//! project from outside it (`cordon trust`), which records the root's real
//! path and the SHA-256 of each of the two files in the user's config
//! directory; a changed file is untrusted again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::rules::{Rules, RulesError};
use crate::digest::sha256_hex;

/// The project's rules file, relative to the root.
pub const PROJECT_RULES: &str = ".cordon/rules.toml";

/// The project's settings file, relative to the root.
pub const PROJECT_CONFIG: &str = ".cordon/config.toml";

/// The user's own rules, in [`user_config_dir`].
pub const USER_RULES: &str = "rules.toml";

/// cordon's directory in the user's config: `$XDG_CONFIG_HOME/cordon`, or
/// `$HOME/.config/cordon`.
pub fn user_config_dir() -> Option<PathBuf> {
    crate::config_file::xdg_dir("XDG_CONFIG_HOME", ".config").map(|dir| dir.join("cordon"))
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TrustStore {
    #[serde(default)]
    trusted: Vec<Trusted>,
}

/// What `cordon trust` recorded of one root: each file's digest as it
/// read then (absent: the file was not there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Trusted {
    root: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rules_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    config_sha256: Option<String>,
}

impl Trusted {
    fn digest_of(&self, file: &str) -> Option<&str> {
        match file {
            PROJECT_RULES => self.rules_sha256.as_deref(),
            _ => self.config_sha256.as_deref(),
        }
    }
}

/// A project's file ([`PROJECT_RULES`], [`PROJECT_CONFIG`]), read only
/// from inside the root (`.cordon` may be a symlink to elsewhere on the
/// host).
///
/// # Errors
///
/// The file's own error (`NotFound` among them), or one saying it lies
/// outside the root or is not a small regular file.
pub fn read_project_file(root: &Path, relative: &str) -> std::io::Result<Vec<u8>> {
    let file = root.join(relative);
    let dir = file.parent().and_then(|dir| dir.canonicalize().ok());
    if let Some(dir) = dir.filter(|dir| !dir.starts_with(root)) {
        return Err(std::io::Error::other(format!(
            "in {}, outside the root; not read",
            dir.display()
        )));
    }
    crate::config_file::read(&file, crate::config_file::CONFIG_LIMIT)
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

/// Whether the user trusted the project at `root` with its `file`
/// ([`PROJECT_RULES`] or [`PROJECT_CONFIG`]) reading `bytes`.
///
/// # Errors
///
/// A trust store that cannot be read.
pub fn is_trusted(
    config: Option<&Path>,
    root: &Path,
    file: &str,
    bytes: &[u8],
) -> Result<bool, String> {
    let Some(config) = config else {
        return Ok(false);
    };
    let digest = sha256_hex(bytes);
    Ok(read_store(config)?
        .trusted
        .iter()
        .any(|t| t.root == root && t.digest_of(file) == Some(digest.as_str())))
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
    let bytes = match read_project_file(root, PROJECT_RULES) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    let mut project = Rules::default();
    project
        .add(&String::from_utf8_lossy(&bytes), &file)
        .map_err(|e| e.to_string())?;
    let trusted = is_trusted(config, root, PROJECT_RULES, &bytes)?;
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

/// Trusts the project at `root` (canonical) as its rules and settings
/// files read now, once each that is there has been checked:
/// `check_settings` checks the settings. Returns each file recorded, with
/// its digest.
///
/// # Errors
///
/// Neither file there, one that does not parse, or a store that cannot
/// be read or written (written atomically).
pub fn trust(
    root: &Path,
    config: &Path,
    check_settings: impl FnOnce(&str, &Path) -> Result<(), String>,
) -> Result<Vec<(&'static str, String)>, String> {
    let read = |relative: &str| match read_project_file(root, relative) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", root.join(relative).display())),
    };
    let (rules, settings) = (read(PROJECT_RULES)?, read(PROJECT_CONFIG)?);
    if rules.is_none() && settings.is_none() {
        return Err(format!(
            "nothing to trust in {}: neither {PROJECT_RULES} nor {PROJECT_CONFIG} is there",
            root.display()
        ));
    }
    if let Some(bytes) = &rules {
        Rules::default()
            .add(&String::from_utf8_lossy(bytes), &root.join(PROJECT_RULES))
            .map_err(|e| e.to_string())?;
    }
    if let Some(bytes) = &settings {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| format!("{}: not UTF-8 text", root.join(PROJECT_CONFIG).display()))?;
        check_settings(text, &root.join(PROJECT_CONFIG))?;
    }
    let entry = Trusted {
        root: root.to_path_buf(),
        rules_sha256: rules.as_deref().map(sha256_hex),
        config_sha256: settings.as_deref().map(sha256_hex),
    };
    let recorded = [
        (PROJECT_RULES, entry.rules_sha256.clone()),
        (PROJECT_CONFIG, entry.config_sha256.clone()),
    ]
    .into_iter()
    .filter_map(|(file, digest)| Some((file, digest?)))
    .collect();
    let mut store = read_store(config)?;
    store.trusted.retain(|t| t.root != root);
    store.trusted.push(entry);
    std::fs::create_dir_all(config).map_err(|e| format!("{}: {e}", config.display()))?;
    let text = toml::to_string(&store).map_err(|e| e.to_string())?;
    crate::atomic::write(&store_path(config), text.as_bytes())
        .map_err(|e| format!("{}: {e}", store_path(config).display()))?;
    Ok(recorded)
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

        trust(root.path(), config.path(), |_, _| Ok(())).unwrap();
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
