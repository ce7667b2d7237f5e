//! A project's own WASI tools, pinned by digest.
//!
//! `.cordon/tools.toml` maps each name to where its bytes came from and
//! their sha256:
//!
//! ```toml
//! [tools.fmt]
//! url = "https://example.com/fmt-1.2.wasm"
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! ```
//!
//! `cordon tools add NAME URL --sha256 HEX` downloads the bytes through
//! the network gate commands use, checks the digest before anything is
//! kept, and writes `.cordon/tools/NAME.wasm` and the pin, each
//! atomically. A pinned tool that is missing, or whose bytes are not the
//! pinned ones, does not run. A tool in `.cordon/tools` without a pin runs
//! as before, vouched for by nothing but the project (`cordon tools` says
//! so).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config_file::line_of;
use crate::digest::{parse_sha256, sha256_hex};
use crate::program_file::{PROGRAM_LIMIT, ProgramFile};

/// Where the pins are, under the root.
pub const PINS_FILE: &str = ".cordon/tools.toml";

/// Where the tools are, under the root.
const TOOLS_DIR: &str = ".cordon/tools";

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PinSpec {
    url: String,
    sha256: String,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
struct PinsFile {
    #[serde(default)]
    tools: BTreeMap<String, PinSpec>,
}

/// One tool's pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The tool's name, as commands run it.
    pub name: String,
    /// Where its bytes came from.
    pub url: String,
    /// Lowercase hex.
    pub sha256: String,
    /// Where its bytes are kept.
    pub path: PathBuf,
}

/// Why a pinned tool does not run.
#[derive(Debug, thiserror::Error)]
pub enum PinMismatch {
    /// The tool's bytes are not the pinned ones.
    #[error(
        "{name}: {} is not the tool {PINS_FILE} pins (its sha256 is {found}, the pin's {pinned}); \
         refused: run `cordon tools add {name} URL --sha256 HEX` for the bytes you mean",
        path.display()
    )]
    Changed {
        /// The tool's name.
        name: String,
        /// Its file.
        path: PathBuf,
        /// The sha256 of the bytes there.
        found: String,
        /// The sha256 the pin holds.
        pinned: String,
    },
    /// A pinned tool's file is missing.
    #[error(
        "{name}: pinned in {PINS_FILE} but {} is missing; fetch it with \
         `cordon tools add {name} {url} --sha256 {pinned}`",
        path.display()
    )]
    Missing {
        /// The tool's name.
        name: String,
        /// Where its file should be.
        path: PathBuf,
        /// Where the pin says its bytes came from.
        url: String,
        /// The sha256 the pin holds.
        pinned: String,
    },
    /// The pins file cannot be read or is not valid.
    #[error("{0}")]
    Invalid(String),
}

impl Pin {
    /// Whether `file` holds the pinned bytes.
    ///
    /// # Errors
    ///
    /// [`PinMismatch::Changed`] when it does not.
    pub fn check(&self, file: &ProgramFile) -> Result<(), PinMismatch> {
        let found = file.sha256_hex();
        if found == self.sha256 {
            return Ok(());
        }
        Err(PinMismatch::Changed {
            name: self.name.clone(),
            path: self.path.clone(),
            found,
            pinned: self.sha256.clone(),
        })
    }

    /// The refusal for a pinned tool whose file is gone.
    pub fn missing(&self) -> PinMismatch {
        PinMismatch::Missing {
            name: self.name.clone(),
            path: self.path.clone(),
            url: self.url.clone(),
            pinned: self.sha256.clone(),
        }
    }
}

/// The pin of the project tool `name` under `root`, if it has one.
///
/// # Errors
///
/// [`PinMismatch::Invalid`] when the pins file cannot be read or is not
/// valid: a tool is never run on a pin cordon could not read.
pub fn pin_of(root: &Path, name: &str) -> Result<Option<Pin>, PinMismatch> {
    Ok(pins(root)
        .map_err(PinMismatch::Invalid)?
        .into_iter()
        .find(|pin| pin.name == name))
}

/// The pin of the project tool at `real` (a resolved path), if it is one
/// (`ROOT/.cordon/tools/NAME.wasm`, however it was reached) and is pinned.
///
/// # Errors
///
/// As [`pin_of`].
pub fn pin_at(root: &Path, real: &Path) -> Result<Option<Pin>, PinMismatch> {
    let Ok(dir) = root.join(TOOLS_DIR).canonicalize() else {
        return Ok(None);
    };
    let name = real
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.strip_suffix(".wasm"))
        .filter(|_| real.parent() == Some(dir.as_path()));
    match name {
        Some(name) => pin_of(root, name),
        None => Ok(None),
    }
}

/// Every pin under `root`, in name order (none without a pins file).
///
/// # Errors
///
/// `FILE:LINE: problem` when the pins file is unreadable or invalid.
pub fn pins(root: &Path) -> Result<Vec<Pin>, String> {
    Ok(read_pins(root)?
        .tools
        .into_iter()
        .map(|(name, spec)| Pin {
            path: tool_path(root, &name),
            name,
            url: spec.url,
            sha256: spec.sha256,
        })
        .collect())
}

fn tool_path(root: &Path, name: &str) -> PathBuf {
    root.join(TOOLS_DIR).join(format!("{name}.wasm"))
}

fn read_pins(root: &Path) -> Result<PinsFile, String> {
    let file = root.join(PINS_FILE);
    let text = match crate::config_file::read_text(&file, crate::config_file::CONFIG_LIMIT) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(PinsFile::default()),
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    let invalid = |offset: usize, message: &str| {
        format!("{}:{}: {message}", file.display(), line_of(&text, offset))
    };
    let parsed: PinsFile =
        toml::from_str(&text).map_err(|e| invalid(e.span().map_or(0, |s| s.start), e.message()))?;
    for (name, spec) in &parsed.tools {
        let at = text.find(name.as_str()).unwrap_or(0);
        if let Err(why) = valid_name(name) {
            return Err(invalid(at, &why));
        }
        if parse_sha256(&spec.sha256).as_deref() != Some(spec.sha256.as_str()) {
            return Err(invalid(
                at,
                &format!("{name}: sha256 must be 64 lowercase hex digits"),
            ));
        }
    }
    Ok(parsed)
}

/// Whether `name` can be a project tool's name.
fn valid_name(name: &str) -> Result<(), String> {
    if plain_name(name).is_none() || name.ends_with(".wasm") {
        return Err(format!(
            "{name:?} cannot be a tool's name (a file name without .wasm)"
        ));
    }
    if crate::tools::find(name).is_some() {
        return Err(format!(
            "{name}: cordon has a built-in {name}, which the name would always run"
        ));
    }
    Ok(())
}

/// A tool found under the root, pinned or not.
pub struct Listed {
    /// The tool's name.
    pub name: String,
    /// Its pin; `None` for a tool without one.
    pub pin: Option<Pin>,
    /// The digest of the bytes there now (`None`: no file).
    pub found: Option<String>,
}

impl Listed {
    /// The digest to show for the tool, and its state: where its pin
    /// downloads it from, or what is wrong (unpinned, unreadable, missing,
    /// changed and so refused).
    pub fn shown(&self) -> (String, String) {
        let found = self.found.as_deref().map(|d| format!("sha256:{d}"));
        match (&self.pin, found) {
            (None, Some(found)) => (
                found,
                format!("unpinned (not in {PINS_FILE}): runs as whatever it is"),
            ),
            (None, None) => ("-".to_string(), "unreadable".to_string()),
            (Some(pin), None) => (
                format!("sha256:{}", pin.sha256),
                format!("{}: MISSING", pin.url),
            ),
            (Some(pin), Some(found)) if found == format!("sha256:{}", pin.sha256) => {
                (found, pin.url.clone())
            }
            (Some(pin), Some(found)) => (
                found,
                format!(
                    "{}: CHANGED, pinned sha256:{}; refused",
                    pin.url, pin.sha256
                ),
            ),
        }
    }
}

/// `cordon tools`: a line for each built-in tool (its crate and version),
/// then each of `root`'s project tools with its digest and state.
///
/// # Errors
///
/// As [`pins`].
pub fn report(root: &Path) -> Result<Vec<String>, String> {
    let built_in = crate::tools::BUILT_IN.iter();
    let mut lines: Vec<String> = built_in
        .map(|tool| format!("{:<12} {} {}", tool.name, tool.krate, tool.version))
        .collect();
    let mib = |module: &crate::tools::Embedded| module.bytes.len() as f64 / (1 << 20) as f64;
    lines.push(format!(
        "({} tools: a WASIp1 module of {:.1} MiB, and fetch, a WASIp2 component of {:.1} MiB)",
        crate::tools::BUILT_IN.len(),
        mib(&crate::tools::TOOLS),
        mib(&crate::tools::FETCH)
    ));
    let listed = listing(root)?;
    if !listed.is_empty() {
        lines.push(format!(
            "\nproject tools in {}:",
            root.join(TOOLS_DIR).display()
        ));
    }
    for tool in listed {
        let (digest, state) = tool.shown();
        lines.push(format!("{:<12} {digest} {state}", tool.name));
    }
    Ok(lines)
}

/// Every pinned tool and every `.cordon/tools/*.wasm`, in name order.
///
/// # Errors
///
/// As [`pins`].
pub fn listing(root: &Path) -> Result<Vec<Listed>, String> {
    let mut listed: BTreeMap<String, Listed> = BTreeMap::new();
    for pin in pins(root)? {
        listed.insert(
            pin.name.clone(),
            Listed {
                name: pin.name.clone(),
                pin: Some(pin),
                found: None,
            },
        );
    }
    if let Ok(entries) = std::fs::read_dir(root.join(TOOLS_DIR)) {
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".wasm")) else {
                continue;
            };
            listed.entry(name.to_string()).or_insert(Listed {
                name: name.to_string(),
                pin: None,
                found: None,
            });
        }
    }
    for tool in listed.values_mut() {
        let path = tool_path(root, &tool.name);
        tool.found = crate::config_file::read_through_links(&path, PROGRAM_LIMIT)
            .ok()
            .map(|bytes| sha256_hex(&bytes));
    }
    Ok(listed.into_values().collect())
}

/// What `cordon tools add` did.
pub struct Added {
    /// Where the tool's file was written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: usize,
}

/// Downloads `url` (through `fetch`, which goes through the network gate)
/// and keeps it as the project tool `name` if its sha256 is `sha256`: the
/// tool's file and its pin are each written atomically; a wrong digest
/// keeps nothing.
///
/// # Errors
///
/// One line saying what was wrong; nothing under the root has changed.
pub fn add(
    root: &Path,
    name: &str,
    url: &str,
    sha256: &str,
    fetch: impl FnOnce(&str) -> Result<Vec<u8>, String>,
) -> Result<Added, String> {
    valid_name(name)?;
    let expected =
        parse_sha256(sha256).ok_or_else(|| format!("--sha256 {sha256}: expected 64 hex digits"))?;
    let mut pins = read_pins(root)?;
    inside_root(root)?;
    let bytes = fetch(url)?;
    let found = sha256_hex(&bytes);
    if found != expected {
        return Err(format!(
            "{url}: its sha256 is {found}, not the {expected} given; nothing was kept"
        ));
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(format!(
            "{url}: not a WebAssembly module or component; nothing was kept"
        ));
    }
    let path = tool_path(root, name);
    std::fs::create_dir_all(root.join(TOOLS_DIR))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    inside_root(root)?;
    crate::atomic::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    pins.tools.insert(
        name.to_string(),
        PinSpec {
            url: url.to_string(),
            sha256: expected,
        },
    );
    let text = toml::to_string(&pins).map_err(|e| e.to_string())?;
    let pins_file = root.join(PINS_FILE);
    crate::atomic::write(&pins_file, text.as_bytes())
        .map_err(|e| format!("{}: {e}", pins_file.display()))?;
    Ok(Added {
        path,
        bytes: bytes.len(),
    })
}

/// Refuses a `.cordon` or `.cordon/tools` that is a symlink: the tool
/// would be written wherever it leads (another project's tools).
fn inside_root(root: &Path) -> Result<(), String> {
    for dir in [".cordon", TOOLS_DIR] {
        let path = root.join(dir);
        if std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_symlink()) {
            return Err(format!(
                "{} is a symlink; tools are kept only in the root itself",
                path.display()
            ));
        }
    }
    Ok(())
}

/// `name` if it can be a file name in `.cordon/tools` (no separators, not
/// `.` or `..`).
pub fn plain_name(name: &str) -> Option<&str> {
    let plain =
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
    plain.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &[u8] = b"\0asm\x01\0\0\0";

    #[test]
    fn a_wrong_digest_keeps_nothing_and_a_right_one_pins() {
        let root = tempfile::tempdir().unwrap();
        let wrong = "0".repeat(64);
        let err = add(root.path(), "fmt", "http://x/fmt.wasm", &wrong, |_| {
            Ok(MODULE.to_vec())
        })
        .err()
        .unwrap();
        assert!(err.contains("nothing was kept"), "{err}");
        assert!(!root.path().join(".cordon").exists());
        let right = sha256_hex(MODULE);
        add(
            root.path(),
            "fmt",
            "http://x/fmt.wasm",
            &right.to_uppercase(),
            |_| Ok(MODULE.to_vec()),
        )
        .unwrap();
        let pin = pin_of(root.path(), "fmt").unwrap().unwrap();
        assert_eq!(pin.sha256, right);
        assert_eq!(std::fs::read(&pin.path).unwrap(), MODULE);
    }

    #[test]
    fn a_symlinked_tools_directory_is_not_written_through() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(".cordon")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), root.path().join(TOOLS_DIR)).unwrap();
        let digest = sha256_hex(MODULE);
        let fetched = std::cell::Cell::new(false);
        let err = add(root.path(), "fmt", "http://x", &digest, |_| {
            fetched.set(true);
            Ok(MODULE.to_vec())
        })
        .err()
        .unwrap();
        assert!(err.contains("symlink"), "{err}");
        assert!(!fetched.get());
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    #[test]
    fn names_of_built_ins_and_paths_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let digest = sha256_hex(MODULE);
        for name in ["ls", "../x", "a/b", "x.wasm", ""] {
            let fetched = std::cell::Cell::new(false);
            assert!(
                add(root.path(), name, "http://x", &digest, |_| {
                    fetched.set(true);
                    Ok(MODULE.to_vec())
                })
                .is_err(),
                "{name}"
            );
            assert!(!fetched.get(), "{name} was fetched");
        }
    }

    #[test]
    fn an_invalid_pins_file_names_its_line() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(".cordon")).unwrap();
        std::fs::write(
            root.path().join(PINS_FILE),
            "[tools.fmt]\nurl = \"http://x\"\nsha256 = \"abc\"\n",
        )
        .unwrap();
        let err = pins(root.path()).unwrap_err();
        assert!(err.contains("tools.toml:1:"), "{err}");
        assert!(matches!(
            pin_of(root.path(), "fmt"),
            Err(PinMismatch::Invalid(_))
        ));
    }
}
