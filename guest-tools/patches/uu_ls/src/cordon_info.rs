// cordon: not part of uutils ls (see PATCHED.md at the crate's root).

//! What cordon's host tells its tools beyond WASI: a file's permission
//! bits and owner, which WASI has no call for.

use crate::PathData;

pub use cordon_host_calls::FileInfo as Info;

/// What the host says of `item` (`None`: it could not say).
pub fn of(item: &PathData) -> Option<Info> {
    cordon_host_calls::file_info_of(item.path(), item.must_dereference)
}
