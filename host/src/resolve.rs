//! Finding the WASI program for a command name.
//!
//! Order: an explicit path to a `.wasm` file, then `--tool NAME=PATH`, then
//! the built-in guest tools, then `.cordon/tools/NAME.wasm` under the root.
//! A project's own tool never answers to the name of a built-in or of a
//! program PATH finds: the name is refused, and running it takes `--tool`.
//! (Rules that name a command never allow a project's tool either: the
//! broker judges it as the project's own program; a rule naming its bytes
//! can.)
//!
//! A program in a file is read here, once: the bytes the broker judges by
//! digest are the bytes that run. A project tool pinned in
//! `.cordon/tools.toml` whose bytes differ from the pin is refused.

use std::path::{Path, PathBuf};

use crate::program_file::ProgramFile;
use crate::project_tools::{self, plain_name};
use crate::tools::{self, BuiltIn};

/// Where a tool's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolSource {
    /// A path given as the command itself.
    Path(PathBuf),
    /// A `--tool NAME=PATH` mapping.
    Mapped(PathBuf),
    /// A tool built into cordon.
    BuiltIn(&'static BuiltIn),
    /// `.cordon/tools/NAME.wasm` in the project.
    Project(PathBuf),
}

/// A resolved tool.
#[derive(Debug)]
pub struct Resolved {
    /// Where the bytes come from.
    pub source: ToolSource,
    /// The program's bytes, for every source but a built-in.
    pub file: Option<ProgramFile>,
}

/// Why a name did not resolve.
#[derive(Debug, thiserror::Error)]
pub enum Unresolved {
    /// Nothing of that name was found.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// A project's tool takes the name of a built-in or a system program.
    #[error("{name}: {tool} takes the name of {taken}; refused (run it with --tool {name}={tool})")]
    Shadowing {
        /// The name asked for.
        name: String,
        /// The project tool's file.
        tool: String,
        /// What has the name already: the built-in, or the program PATH finds.
        taken: String,
    },
    /// The program's file cannot be read.
    #[error("{name}: cannot read {}: {error}", path.display())]
    Unreadable {
        /// The name asked for.
        name: String,
        /// The file that cannot be read.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A pinned project tool is missing or is not the bytes pinned.
    #[error("{0}")]
    Unpinned(#[from] crate::project_tools::PinMismatch),
}

/// Nothing matched; lists where resolution looked, in order.
#[derive(Debug, thiserror::Error)]
#[error("{name}: command not found (looked at: {})", looked.join(", "))]
pub struct NotFound {
    /// The name asked for.
    pub name: String,
    /// Where resolution looked, in order.
    pub looked: Vec<String>,
}

impl NotFound {
    /// Nothing looked at yet.
    pub fn new(name: &str) -> Self {
        NotFound {
            name: name.to_string(),
            looked: Vec::new(),
        }
    }
}

/// Whether `path` starts with the wasm magic (a module or a component).
fn is_wasm(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == *b"\0asm")
}

/// The project's tool `.cordon/tools/NAME.wasm` under `root`, if there is one.
pub fn project_tool(root: &Path, name: &str) -> Option<PathBuf> {
    plain_name(name)
        .map(|n| root.join(".cordon/tools").join(format!("{n}.wasm")))
        .filter(|p| p.is_file())
}

/// Resolves `name` given the `--tool` mappings and the project root;
/// `on_path` finds the system program of that name, if any.
///
/// # Errors
///
/// [`NotFound`] naming every place that was tried, or
/// [`Unresolved::Shadowing`] for a project tool with a taken name.
pub fn resolve(
    name: &str,
    mapped: &[(String, PathBuf)],
    root: &Path,
    on_path: impl Fn() -> Option<PathBuf>,
) -> Result<Resolved, Unresolved> {
    let mut looked = Vec::new();
    if name.contains('/') || name.ends_with(".wasm") {
        let path = PathBuf::from(name);
        // A file named .wasm is meant as one (and reported if malformed);
        // another path is a WASI program only if its bytes say so.
        if path.is_file() && (name.ends_with(".wasm") || is_wasm(&path)) {
            let file = read(name, &path)?;
            checked_if_pinned(root, &path, &file)?;
            return Ok(Resolved {
                source: ToolSource::Path(path),
                file: Some(file),
            });
        }
        looked.push(format!("the path {name}"));
        return Err(NotFound {
            name: name.to_string(),
            looked,
        }
        .into());
    }
    if let Some((_, path)) = mapped.iter().rev().find(|(n, _)| n == name) {
        let file = read(name, path)?;
        checked_if_pinned(root, path, &file)?;
        return Ok(Resolved {
            source: ToolSource::Mapped(path.clone()),
            file: Some(file),
        });
    }
    looked.push("--tool mappings".to_string());
    let project = project_tool(root, name);
    let builtin = tools::find(name);
    if let Some(tool) = &project {
        let taken = match builtin {
            Some(_) => Some(format!("cordon's built-in {name}")),
            None => on_path().map(|system| format!("{}, found on PATH", system.display())),
        };
        if let Some(taken) = taken {
            return Err(Unresolved::Shadowing {
                name: name.to_string(),
                tool: tool.display().to_string(),
                taken,
            });
        }
    }
    if let Some(builtin) = builtin {
        return Ok(Resolved {
            source: ToolSource::BuiltIn(builtin),
            file: None,
        });
    }
    looked.push("built-in tools".to_string());
    if let Some(path) = project {
        let file = read(name, &path)?;
        if let Some(pin) = project_tools::pin_of(root, name)? {
            pin.check(&file)?;
        }
        return Ok(Resolved {
            source: ToolSource::Project(path),
            file: Some(file),
        });
    }
    // A pinned tool that is gone, unless another program answers to the
    // name (a pins file, which comes with the project, cannot take `git`
    // away).
    if let Ok(Some(pin)) = project_tools::pin_of(root, name)
        && on_path().is_none()
    {
        return Err(pin.missing().into());
    }
    looked.push(format!("{}/.cordon/tools/{name}.wasm", root.display()));
    Err(NotFound {
        name: name.to_string(),
        looked,
    }
    .into())
}

/// A program named by a path (or `--tool`) that is a pinned project tool
/// (by what the path resolves to) runs only as the bytes pinned.
fn checked_if_pinned(root: &Path, path: &Path, file: &ProgramFile) -> Result<(), Unresolved> {
    // The file the bytes came from, not what the path leads to now.
    let Some(real) = file.read_from.clone().or_else(|| path.canonicalize().ok()) else {
        return Ok(());
    };
    if let Some(pin) = project_tools::pin_at(root, &real)? {
        pin.check(file)?;
    }
    Ok(())
}

/// The program `name` runs, read from `path` (through symlinks).
fn read(name: &str, path: &Path) -> Result<ProgramFile, Unresolved> {
    ProgramFile::read(path).map_err(|error| Unresolved::Unreadable {
        name: name.to_string(),
        path: path.to_path_buf(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_tool_never_takes_a_built_in_or_system_name() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(".cordon/tools")).unwrap();
        for name in ["ls", "git"] {
            std::fs::write(root.path().join(format!(".cordon/tools/{name}.wasm")), b"").unwrap();
        }
        let system = || Some(PathBuf::from("/usr/bin/git"));
        for (name, taken) in [
            ("ls", "built-in ls"),
            ("git", "/usr/bin/git, found on PATH"),
        ] {
            let err = resolve(name, &[], root.path(), system)
                .unwrap_err()
                .to_string();
            assert!(err.contains(taken), "{err}");
            assert!(err.contains(&format!("--tool {name}=")), "{err}");
        }
        let elsewhere = root.path().join("ls.wasm");
        std::fs::write(&elsewhere, b"").unwrap();
        let mapped = vec![("ls".to_string(), elsewhere.clone())];
        let r = resolve("ls", &mapped, root.path(), system).unwrap();
        assert_eq!(r.source, ToolSource::Mapped(elsewhere));
        let r = resolve("git", &[], root.path(), || None).unwrap();
        assert!(matches!(r.source, ToolSource::Project(_)));
    }

    #[test]
    fn order_and_not_found() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(".cordon/tools")).unwrap();
        std::fs::write(root.path().join(".cordon/tools/hello.wasm"), b"").unwrap();
        let elsewhere = root.path().join("h.wasm");
        std::fs::write(&elsewhere, b"").unwrap();
        let mapped = vec![("hello".to_string(), elsewhere.clone())];
        let r = resolve("hello", &mapped, root.path(), || None).unwrap();
        assert_eq!(r.source, ToolSource::Mapped(elsewhere));
        let r = resolve("hello", &[], root.path(), || None).unwrap();
        assert!(matches!(r.source, ToolSource::Project(_)));
        let Err(Unresolved::NotFound(err)) = resolve("nope", &[], root.path(), || None) else {
            panic!("found");
        };
        assert_eq!(err.looked.len(), 3);
        assert!(resolve("../hello", &[], root.path(), || None).is_err());
        assert!(resolve("..", &[], root.path(), || None).is_err());
    }
}
