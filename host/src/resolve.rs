//! Finding the WASI program for a command name.
//!
//! Order: an explicit path to a `.wasm` file, then `--tool NAME=PATH`, then
//! the built-in guest tools, then `.cordon/tools/NAME.wasm` under the root.
//! A project's own tool never shadows a built-in: that takes `--tool`.

use std::path::{Path, PathBuf};

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

/// A resolved tool and a note for the user, if resolution skipped something
/// they might have meant.
#[derive(Debug)]
pub struct Resolved {
    pub source: ToolSource,
    pub note: Option<String>,
}

/// Nothing matched; lists where resolution looked, in order.
#[derive(Debug, thiserror::Error)]
#[error("{name}: command not found (looked at: {})", looked.join(", "))]
pub struct NotFound {
    pub name: String,
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

/// Resolves `name` given the `--tool` mappings and the project root.
///
/// # Errors
///
/// [`NotFound`] naming every place that was tried.
pub fn resolve(
    name: &str,
    mapped: &[(String, PathBuf)],
    root: &Path,
) -> Result<Resolved, NotFound> {
    let mut looked = Vec::new();
    if name.contains('/') || name.ends_with(".wasm") {
        let path = PathBuf::from(name);
        // A file named .wasm is meant as one (and reported if malformed);
        // another path is a WASI program only if its bytes say so.
        if path.is_file() && (name.ends_with(".wasm") || is_wasm(&path)) {
            return Ok(Resolved {
                source: ToolSource::Path(path),
                note: None,
            });
        }
        looked.push(format!("the path {name}"));
        return Err(NotFound {
            name: name.to_string(),
            looked,
        });
    }
    if let Some((_, path)) = mapped.iter().rev().find(|(n, _)| n == name) {
        return Ok(Resolved {
            source: ToolSource::Mapped(path.clone()),
            note: None,
        });
    }
    looked.push("--tool mappings".to_string());
    let project = plain_name(name).map(|n| root.join(".cordon/tools").join(format!("{n}.wasm")));
    let project = project.filter(|p| p.is_file());
    if let Some(builtin) = tools::find(name) {
        let note = project.map(|p| {
            format!(
                "using the built-in {name}; {} is ignored (use --tool {name}={} to run it)",
                p.display(),
                p.display()
            )
        });
        return Ok(Resolved {
            source: ToolSource::BuiltIn(builtin),
            note,
        });
    }
    looked.push("built-in tools".to_string());
    if let Some(path) = project {
        return Ok(Resolved {
            source: ToolSource::Project(path),
            note: None,
        });
    }
    looked.push(format!("{}/.cordon/tools/{name}.wasm", root.display()));
    Err(NotFound {
        name: name.to_string(),
        looked,
    })
}

/// `name` if it can be a file name in `.cordon/tools` (no separators, not
/// `.` or `..`).
fn plain_name(name: &str) -> Option<&str> {
    let plain =
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
    plain.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_win_over_project_tools() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(".cordon/tools")).unwrap();
        std::fs::write(root.path().join(".cordon/tools/ls.wasm"), b"").unwrap();
        let r = resolve("ls", &[], root.path()).unwrap();
        assert_eq!(r.source, ToolSource::BuiltIn(tools::find("ls").unwrap()));
        assert!(r.note.unwrap().contains("--tool ls="));
        let mapped = vec![("ls".to_string(), PathBuf::from("/x/ls.wasm"))];
        let r = resolve("ls", &mapped, root.path()).unwrap();
        assert_eq!(r.source, ToolSource::Mapped(PathBuf::from("/x/ls.wasm")));
    }

    #[test]
    fn order_and_not_found() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(".cordon/tools")).unwrap();
        std::fs::write(root.path().join(".cordon/tools/hello.wasm"), b"").unwrap();
        let mapped = vec![("hello".to_string(), PathBuf::from("/x/h.wasm"))];
        let r = resolve("hello", &mapped, root.path()).unwrap();
        assert_eq!(r.source, ToolSource::Mapped(PathBuf::from("/x/h.wasm")));
        let r = resolve("hello", &[], root.path()).unwrap();
        assert!(matches!(r.source, ToolSource::Project(_)));
        let err = resolve("nope", &[], root.path()).unwrap_err();
        assert_eq!(err.looked.len(), 3);
        assert!(resolve("../hello", &[], root.path()).is_err());
        assert!(resolve("..", &[], root.path()).is_err());
    }
}
