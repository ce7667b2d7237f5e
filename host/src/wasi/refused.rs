//! What the WASI guards refused a guest, for the report and the audit, as
//! native refusals are: each by kind and path (the real one, symlinks
//! resolved), repeats counted, in bounded memory.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::fs_spot::Spot;
use crate::fd_path::real_path;
use crate::violations::Violation;
use crate::violations::{Denied, Refusals};

pub struct Refused {
    root: PathBuf,
    found: Mutex<Refusals>,
}

impl Refused {
    pub fn new(root: &Path) -> Refused {
        Refused {
            root: root.to_path_buf(),
            found: Mutex::new(Refusals::default()),
        }
    }

    /// Notes that a call on `spot` was refused, for `why`.
    pub fn spot(&self, denied: Denied, spot: &Spot, why: &str) {
        let dir = spot
            .parent
            .try_clone()
            .ok()
            .and_then(|dir| real_path(&dir.into_std_file()));
        let path = match dir {
            Some(dir) if spot.is_whole() => dir,
            Some(dir) => dir.join(&spot.name),
            None => PathBuf::from(&spot.name),
        };
        self.path(denied, &path, why);
    }

    /// Notes that a call on the file at `path` was refused, for `why`.
    pub fn path(&self, denied: Denied, path: &Path, why: &str) {
        let shown = path.strip_prefix(&self.root).unwrap_or(path);
        let violation = Violation {
            denied,
            target: Some(path.display().to_string()),
            line: format!("{}: {why}", crate::display::path(shown)),
            times: 1,
            from_stderr: false,
            engine: "wasi",
        };
        self.found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(violation);
    }

    /// What was refused, and how many more were not kept.
    pub fn take(&self) -> (Vec<Violation>, u64) {
        std::mem::take(&mut *self.found.lock().unwrap_or_else(|e| e.into_inner())).finish()
    }
}
