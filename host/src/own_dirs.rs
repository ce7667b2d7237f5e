//! cordon's own directories: its config (rules, trusted projects) and its
//! compile cache (native code cordon maps and runs, and the key that
//! authenticates it). No command may write them or change where they are
//! found; the cache's key no command may read.
//!
//! They are made before the first command runs (so they have an identity
//! the engines can protect) and resolved once, symlink by symlink. A path
//! that passes through a symlink lying where commands may write is
//! refused: a command could point it elsewhere, at a directory of its own
//! making, for the next run to trust. The directories themselves, and
//! every directory between the root and them, are kept in place by the
//! engines (docs/SANDBOX.md).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use crate::wasi::CompileCache;

/// Symlinks followed while resolving one path, as Linux's `MAXSYMLINKS`.
const MAX_SYMLINKS: u32 = 40;

/// cordon's own directories, resolved (absolute, no symlink, no `..`).
#[derive(Debug, Clone, Default)]
pub struct OwnDirs {
    /// The config directory (rules, trusted projects).
    pub config: Option<PathBuf>,
    /// The compile cache's directory.
    pub cache: Option<PathBuf>,
    /// The default config and cache directories where this run uses
    /// others: a later run may use them, so no command may write them
    /// either (nor forge a key or a cache entry there for it to trust).
    defaults: Defaults,
}

/// See [`OwnDirs::protect_defaults`].
#[derive(Debug, Clone, Default)]
struct Defaults {
    config: Option<PathBuf>,
    cache: Option<PathBuf>,
}

/// Why an own directory cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OwnDirError {
    /// The directory is reached through a symlink commands may change.
    #[error("{0}")]
    ThroughWritableSymlink(Box<WritableSymlink>),
    /// The directory cannot be made or resolved.
    #[error("cordon's {what} directory {path}: {error}")]
    Unusable {
        /// `config` or `cache`.
        what: &'static str,
        /// The directory as given.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
}

/// An own directory reached through a symlink that commands may change.
#[derive(Debug, thiserror::Error)]
#[error(
    "cordon's {what} directory {path} is reached through the symlink {link}, which \
     lies in {area}, where commands may change it; point {how} at {real} instead"
)]
pub struct WritableSymlink {
    what: &'static str,
    path: PathBuf,
    link: PathBuf,
    area: PathBuf,
    how: &'static str,
    real: String,
}

impl OwnDirs {
    /// Makes and resolves `config` and `cache`. `areas` are the resolved
    /// directories commands may write (the root when writable, `--writable`
    /// ones).
    ///
    /// # Errors
    ///
    /// [`OwnDirError`]: a directory that cannot be made or resolved, or one
    /// reached through a symlink inside `areas`.
    pub fn resolve(
        config: Option<&Path>,
        cache: Option<&Path>,
        areas: &[&Path],
    ) -> Result<OwnDirs, OwnDirError> {
        let one = |dir: Option<&Path>, what, how| {
            dir.map(|dir| resolve_one(dir, what, how, areas))
                .transpose()
        };
        Ok(OwnDirs {
            config: one(config, "config", "XDG_CONFIG_HOME")?,
            cache: one(cache, "cache", "--cache-dir")?,
            defaults: Defaults::default(),
        })
    }

    /// Protects too the default `config` and `cache` directories, where
    /// they are not this run's.
    ///
    /// # Errors
    ///
    /// As [`OwnDirs::resolve`]: a default that cannot be resolved (a
    /// symlink loop a command could undo, say) or is reached through a
    /// symlink in `areas` (a command could point it at a directory of its
    /// own, for a later run that does not write there to follow).
    pub fn protect_defaults(
        &mut self,
        config: Option<&Path>,
        cache: Option<&Path>,
        areas: &[&Path],
    ) -> Result<(), OwnDirError> {
        let other = |dir: Option<&Path>, what, how, used: &Option<PathBuf>| {
            let Some(dir) = dir else { return Ok(None) };
            let real = resolve_one(dir, what, how, areas)?;
            Ok((used.as_ref() != Some(&real)).then_some(real))
        };
        self.defaults = Defaults {
            config: other(config, "default config", "XDG_CONFIG_HOME", &self.config)?,
            cache: other(cache, "default cache", "XDG_CACHE_HOME", &self.cache)?,
        };
        Ok(())
    }

    /// Every directory, resolved.
    pub fn all(&self) -> Vec<PathBuf> {
        let defaults = self.defaults.config.iter().chain(&self.defaults.cache);
        self.config
            .iter()
            .chain(&self.cache)
            .chain(defaults)
            .cloned()
            .collect()
    }

    /// The key files of the compile cache and of the default one, resolved.
    pub fn cache_keys(&self) -> Vec<PathBuf> {
        let caches = self.cache.iter().chain(&self.defaults.cache);
        caches
            .map(|dir| CompileCache::new(dir.clone()).key_file())
            .collect()
    }
}

fn resolve_one(
    dir: &Path,
    what: &'static str,
    how: &'static str,
    areas: &[&Path],
) -> Result<PathBuf, OwnDirError> {
    let unusable = |error| OwnDirError::Unusable {
        what,
        path: dir.to_path_buf(),
        error,
    };
    let absolute = std::path::absolute(dir).map_err(unusable)?;
    // One this user cannot make, no command of the user's can make either:
    // it is resolved as far as it exists, and protected by that path.
    let _ = std::fs::create_dir_all(&absolute);
    match resolve_path(&absolute, areas).map_err(unusable)? {
        Resolved {
            real,
            through: None,
        } => Ok(real),
        Resolved {
            through: Some((link, area)),
            ..
        } => Err(OwnDirError::ThroughWritableSymlink(Box::new(
            WritableSymlink {
                what,
                real: absolute
                    .canonicalize()
                    .map_or_else(|_| "its real path".into(), |p| p.display().to_string()),
                path: absolute,
                link,
                area: area.to_path_buf(),
                how,
            },
        ))),
    }
}

/// Where a path leads, and the first symlink on the way that lies in a
/// writable area (with that area): a command could repoint it.
pub struct Resolved<'a> {
    /// The real path: absolute, no symlink, no `..`.
    pub real: PathBuf,
    /// The first symlink on the way that lies in a writable area, and that
    /// area.
    pub through: Option<(PathBuf, &'a Path)>,
}

impl<'a> Resolved<'a> {
    /// The writable area the path passes through (by a symlink) or ends in.
    pub fn within(&self, areas: &[&'a Path]) -> Option<&'a Path> {
        self.through
            .as_ref()
            .map(|(_, area)| *area)
            .or_else(|| areas.iter().find(|a| self.real.starts_with(a)).copied())
    }
}

/// Resolves `path` (made absolute) component by component, as the kernel
/// would, noting the first symlink whose own directory lies in one of
/// `areas`. From the first name that does not exist (or cannot be
/// examined) on, the rest is taken as written.
///
/// # Errors
///
/// Too many symlinks, or one that cannot be read.
pub fn resolve_path<'a>(path: &Path, areas: &[&'a Path]) -> std::io::Result<Resolved<'a>> {
    let path = std::path::absolute(path)?;
    let mut through = None;
    let mut pending: VecDeque<OsString> = components(&path);
    let mut resolved = PathBuf::from("/");
    let mut hops = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let next = resolved.join(&name);
        if !next.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
            resolved = next;
            continue;
        }
        if through.is_none()
            && let Some(area) = areas.iter().find(|area| resolved.starts_with(area))
        {
            through = Some((next.clone(), *area));
        }
        hops += 1;
        if hops > MAX_SYMLINKS {
            return Err(std::io::Error::other("too many levels of symbolic links"));
        }
        let target = std::fs::read_link(&next)?;
        if target.is_absolute() {
            resolved = PathBuf::from("/");
        }
        for component in components(&target).into_iter().rev() {
            pending.push_front(component);
        }
    }
    Ok(Resolved {
        real: resolved,
        through,
    })
}

/// The names of `path`, `..` kept, `.` and the root dropped.
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_symlink_where_commands_write_is_refused_and_others_are_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let root = base.join("root");
        std::fs::create_dir_all(root.join("dotfiles/config")).unwrap();
        std::fs::create_dir_all(base.join("elsewhere/cache")).unwrap();
        symlink("dotfiles/config", root.join(".config")).unwrap();
        symlink(base.join("elsewhere"), base.join("link")).unwrap();
        symlink("../link/cache", root.join("cachelink")).unwrap();
        let areas = [root.as_path()];
        // Through a symlink inside the root: refused, naming the way out.
        let err = OwnDirs::resolve(Some(&root.join(".config/cordon")), None, &areas).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("XDG_CONFIG_HOME"), "{text}");
        assert!(text.contains("dotfiles/config/cordon"), "{text}");
        assert!(OwnDirs::resolve(None, Some(&root.join("cachelink/cordon")), &areas).is_err());
        // Through symlinks outside it (the root's own spelling included):
        // followed to the real directory, made if missing.
        let own = OwnDirs::resolve(
            Some(&root.join("dotfiles/config/../config/cordon")),
            Some(&base.join("link/cache/cordon")),
            &areas,
        )
        .unwrap();
        assert_eq!(
            own.config.clone().unwrap(),
            root.join("dotfiles/config/cordon")
        );
        assert_eq!(
            own.cache.clone().unwrap(),
            base.join("elsewhere/cache/cordon")
        );
        assert!(base.join("elsewhere/cache/cordon").is_dir());
        assert_eq!(
            own.cache_keys(),
            [base.join("elsewhere/cache/cordon/mac.key")]
        );
        // A read-only root has no area: the symlink is followed.
        assert!(OwnDirs::resolve(Some(&root.join(".config/cordon")), None, &[]).is_ok());
    }

    #[test]
    fn the_default_directories_are_protected_where_the_run_uses_others() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let (config, cache) = (base.join("config"), base.join("cache"));
        let mut own = OwnDirs::resolve(Some(&config), Some(&cache), &[]).unwrap();
        let (default_config, default_cache) = (base.join("home/.config"), base.join("home/.cache"));
        own.protect_defaults(Some(&default_config), Some(&default_cache), &[])
            .unwrap();
        assert_eq!(
            own.all(),
            [
                config.clone(),
                cache.clone(),
                default_config,
                default_cache.clone()
            ]
        );
        assert_eq!(
            own.cache_keys(),
            [cache.join("mac.key"), default_cache.join("mac.key")]
        );
        // The same directories, spelled otherwise: once.
        own.protect_defaults(Some(&base.join("config/.")), Some(&cache), &[])
            .unwrap();
        assert_eq!(own.all(), [config, cache]);
        // A default reached through a symlink where commands write: refused,
        // naming the variable to set.
        let home = base.join("other-home");
        std::fs::create_dir_all(home.join("dotcache")).unwrap();
        symlink("dotcache", home.join(".cache")).unwrap();
        let err = own
            .protect_defaults(None, Some(&home.join(".cache/cordon")), &[home.as_path()])
            .unwrap_err();
        assert!(err.to_string().contains("XDG_CACHE_HOME"), "{err}");
        // One that cannot be resolved (a loop a command could undo and
        // fill): refused, not left out.
        symlink("loop", base.join("loop")).unwrap();
        let err = own.protect_defaults(None, Some(&base.join("loop/cordon")), &[]);
        assert!(err.is_err());
    }
}
