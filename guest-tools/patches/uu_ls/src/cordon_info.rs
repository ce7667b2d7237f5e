// cordon: not part of uutils ls (see PATCHED.md at the crate's root).

//! What cordon's host tells its tools beyond WASI: a file's permission
//! bits and owner, which WASI has no call for.

use crate::PathData;

/// A file's permission bits (and type, as `st_mode`), and its owner.
pub struct Info {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub user: String,
    pub group: String,
}

#[link(wasm_import_module = "cordon")]
unsafe extern "C" {
    /// Writes mode, uid, gid and the lengths of the two names (five
    /// `u32`) at `out`, and the owner's and group's names one after the
    /// other at `names`; returns a WASI errno. `path` is absolute.
    fn file_info(
        path: *const u8,
        path_len: usize,
        follow: u32,
        out: *mut u32,
        names: *mut u8,
        names_len: usize,
    ) -> u32;
}

/// What the host says of `item` (`None`: it could not say).
pub fn of(item: &PathData) -> Option<Info> {
    let path = std::path::absolute(item.path()).ok()?;
    let path = path.to_str()?;
    let mut out = [0u32; 5];
    let mut names = [0u8; 1024];
    // SAFETY: every pointer is valid for its length during the call.
    let errno = unsafe {
        file_info(
            path.as_ptr(),
            path.len(),
            u32::from(item.must_dereference),
            out.as_mut_ptr(),
            names.as_mut_ptr(),
            names.len(),
        )
    };
    if errno != 0 {
        return None;
    }
    let (user_len, group_len) = (out[3] as usize, out[4] as usize);
    let user = String::from_utf8_lossy(names.get(..user_len)?).into_owned();
    let group = String::from_utf8_lossy(names.get(user_len..user_len + group_len)?).into_owned();
    Some(Info {
        mode: out[0],
        uid: out[1],
        gid: out[2],
        user,
        group,
    })
}
