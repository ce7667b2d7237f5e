//! A guarded call, from the directory it starts at to the spot it acts on:
//! the path is located once ([`locate`]), both guards judge that spot, and
//! the spot's directory is put in the guest's table as a descriptor of its
//! own, so that wasmtime-wasi acts on it, on one name, with no symlink
//! followed. Shared by the p1 and p2 adapters.

use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::{Descriptor, Dir, OpenMode};
use wasmtime_wasi::p2::bindings::filesystem::types::ErrorCode;
use wasmtime_wasi::{FsPerms, ResourceTable};

use super::fs_guard::FsGuard;
use super::fs_spot::{Spot, locate};
use super::secrets_guard::SecretsGuard;
use crate::violations::Denied;

/// The directory a call starts from, as the guest's descriptor holds it.
pub struct Start {
    pub dir: Arc<std::fs::File>,
    pub perms: FsPerms,
    pub open_mode: OpenMode,
}

impl Start {
    pub fn of(dir: &Dir) -> Start {
        Start {
            dir: Arc::clone(&dir.dir),
            perms: dir.perms,
            open_mode: dir.open_mode,
        }
    }
}

/// The guards of a run, either of which may be absent.
#[derive(Clone, Copy)]
pub struct Guards<'a> {
    pub fs: Option<&'a FsGuard>,
    pub secrets: Option<&'a SecretsGuard>,
}

impl Guards<'_> {
    /// Whether a call needs locating and judging at all.
    pub fn any(&self) -> bool {
        self.fs.is_some() || self.secrets.is_some()
    }

    /// Locates `path` from `start` and judges the spot; the error is what
    /// the guest receives.
    pub fn place(&self, start: &Start, path: &str, follow: bool) -> Result<Spot, ErrorCode> {
        if start.perms == FsPerms::ReadOnly {
            // wasmtime-wasi's own answer to a change through it.
            return Err(ErrorCode::NotPermitted);
        }
        let mut spot = locate(&start.dir, path, follow).map_err(ErrorCode::from)?;
        // A name that can shape a git directory is judged, and the call
        // made, under the git-shape lock.
        if let Some(fs) = self.fs
            && fs.protects_names()
            && !spot.is_whole()
            && crate::gitdirs::is_shape_name(&spot.name)
        {
            spot.holding = Some(fs.hold_shape_lock().ok_or(ErrorCode::NotPermitted)?);
        }
        if let Some(fs) = self.fs.filter(|g| g.spot_protected(&spot)) {
            let why = "a git directory, cordon's own, or a name that would make one";
            fs.refused.spot(Denied::Write, &spot, why);
            return Err(ErrorCode::NotPermitted);
        }
        if let Some(secrets) = self.secrets.filter(|g| g.spot_secret(&spot)) {
            secrets.refused.spot(
                Denied::Write,
                &spot,
                "a secret file, or a directory holding one",
            );
            return Err(ErrorCode::NotPermitted);
        }
        Ok(spot)
    }
}

/// A spot's directory, held in the guest's table for the call.
pub struct Held {
    own: Resource<Descriptor>,
    pub name: String,
    /// The spot's hold on the git-shape lock, let go with the spot.
    _holding: Option<crate::shape_lock::Holding>,
}

impl Held {
    /// Puts `spot`'s directory in `table` with `start`'s permissions.
    pub fn new(table: &mut ResourceTable, start: &Start, spot: Spot) -> wasmtime::Result<Held> {
        let dir = Dir::new(
            spot.parent.into_std_file(),
            start.perms,
            start.open_mode,
            true,
        );
        let own = table.push(Descriptor::Dir(dir))?;
        Ok(Held {
            own,
            name: spot.name,
            _holding: spot.holding,
        })
    }

    /// The descriptor to pass to wasmtime-wasi's methods.
    pub fn dir(&self) -> Resource<Descriptor> {
        Resource::new_borrow(self.own.rep())
    }

    /// Takes the directory out of `table` again.
    pub fn release(self, table: &mut ResourceTable) -> wasmtime::Result<()> {
        table.delete(self.own)?;
        Ok(())
    }
}
