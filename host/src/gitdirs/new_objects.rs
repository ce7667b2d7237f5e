//! The objects a command wrote under the git-commit grant, read before
//! anything of the commit is kept. A new commit whose tree holds a new
//! directory shaped as a git directory (see [`super::has_git_dir_shape`];
//! a bare test fixture of the project's, changed, too) would leave a bare
//! repository in history: a later checkout or clone makes it, and git
//! run there obeys its config. Such a commit is not kept, whatever index
//! came with it. Loose objects are read (zlib, SHA-1 names: the grant refuses other
//! stores), from each new commit down through the new trees; a pack,
//! which cordon does not read, keeps the commit out too.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest object read; a larger commit or tree keeps the commit out.
const OBJECT_LIMIT: u64 = 64 << 20;

/// Checks the objects written under `objects` (a staging layer's
/// `objects` directory; none written: nothing to check). A tree that
/// names a shape entry is judged with what the same directory already
/// holds in any of `work_trees` (untracked `objects` and `refs` beside a
/// committed `HEAD` make the shape at checkout).
///
/// # Errors
///
/// Why the commit is not kept.
pub fn plant_no_git_dir(objects: &Path, work_trees: &[PathBuf]) -> Result<(), String> {
    let Ok(fans) = std::fs::read_dir(objects) else {
        return Ok(());
    };
    let mut written = HashMap::new();
    for fan in fans {
        let fan = fan.map_err(|e| format!("the objects written: {e}"))?;
        let name = fan.file_name().to_string_lossy().into_owned();
        if name == "pack" {
            if regular_files(&fan.path())?.any(|p| p.extension().is_some_and(|e| e == "pack")) {
                return Err(
                    "a pack was written, which cordon does not read (a commit writes loose \
                     objects); run `git gc` outside cordon"
                        .into(),
                );
            }
        } else if name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            for object in regular_files(&fan.path())? {
                let rest = object.file_name().unwrap_or_default().to_string_lossy();
                let id = format!("{name}{rest}");
                // git names objects in lower-case hex, 40 digits: another
                // name is one git never reads, or reads as another.
                if !is_object_id(id.as_bytes()) {
                    return Err(format!(
                        "{} is not an object name git writes",
                        object.display()
                    ));
                }
                written.insert(id, object);
            }
        }
    }
    let walk = Walk {
        written: &written,
        work_trees,
        walked: Default::default(),
    };
    for (id, path) in &written {
        let (kind, body) = read(path)?;
        match kind.as_str() {
            // Every new tree alone, wherever it may be checked out: one
            // that no commit names yet may be named by the next run's.
            "tree" => {
                walk.judge(id, &body, None)?;
            }
            "commit" => {
                let tree = body
                    .strip_prefix(b"tree ")
                    .and_then(|rest| rest.get(..41))
                    .filter(|id| id[40] == b'\n' && is_object_id(&id[..40]))
                    .ok_or_else(|| format!("the commit {}: no tree git writes", path.display()))?;
                walk.tree(&String::from_utf8_lossy(&tree[..40]), b"")?;
            }
            _ => {}
        }
    }
    Ok(())
}

struct Walk<'a> {
    written: &'a HashMap<String, PathBuf>,
    work_trees: &'a [PathBuf],
    /// The (tree, directory) pairs checked: a tree named again at the same
    /// place is not read again (the ids are the command's to choose, so a
    /// tree may even name itself).
    walked: std::cell::RefCell<std::collections::HashSet<(String, Vec<u8>)>>,
}

impl Walk<'_> {
    /// Checks the tree `id` at `dir` (with what the work trees hold
    /// there), and the new trees below it; a tree the command did not
    /// write was there before.
    fn tree(&self, id: &str, dir: &[u8]) -> Result<(), String> {
        let Some(path) = self.written.get(id) else {
            return Ok(());
        };
        if dir.len() > 4096
            || !self
                .walked
                .borrow_mut()
                .insert((id.to_string(), dir.to_vec()))
        {
            return Ok(());
        }
        let (kind, body) = read(path)?;
        if kind != "tree" {
            return Err(format!("the object {id}: a {kind} where a tree was named"));
        }
        let entries = self.judge(id, &body, Some(dir))?;
        for (mode, name, child) in entries {
            if is_tree_mode(mode) {
                let below = match dir {
                    b"" => name.to_vec(),
                    _ => [dir, b"/", name].concat(),
                };
                self.tree(&child, &below)?;
            }
        }
        Ok(())
    }

    /// Refuses the tree `id` (its `body`) if its entries, with what the
    /// work trees hold at `dir` when it is known, give a git directory's
    /// shape; else its entries.
    fn judge<'b>(
        &self,
        id: &str,
        body: &'b [u8],
        dir: Option<&[u8]>,
    ) -> Result<Vec<TreeEntry<'b>>, String> {
        let entries =
            tree_entries(body).ok_or_else(|| format!("the tree {id}: not a tree git writes"))?;
        let mut folded: Vec<String> = entries
            .iter()
            .map(|(_, name, _)| crate::policy::folded_name(&String::from_utf8_lossy(name)))
            .collect();
        if let Some(dir) = dir
            && folded.iter().any(|name| super::is_shape_name(name))
        {
            folded.extend(super::names_in(self.work_trees, dir));
        }
        if super::has_git_dir_shape(|e| folded.iter().any(|n| n.eq_ignore_ascii_case(e))) {
            let at = dir.map_or_else(
                || format!("tree {id}"),
                |d| String::from_utf8_lossy(d).into(),
            );
            return Err(format!("the commit's tree holds a git directory at `{at}`"));
        }
        Ok(entries)
    }
}

/// Whether `id` is an object name as git writes it: 40 lower-case hex
/// digits (git reads upper case too, as another spelling of the same
/// object, which would name one cordon never read).
fn is_object_id(id: &[u8]) -> bool {
    id.len() == 40 && id.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether a tree entry's mode is a directory's. Only the modes git
/// writes are read (`40000`, `100644`, `100755`, `120000`, `160000`): git
/// reads others too (`040000`, digits past 32 bits that wrap), so a tree
/// holding one is refused (see [`tree_entries`]).
fn is_tree_mode(mode: &[u8]) -> bool {
    mode == b"40000"
}

/// The modes git writes in a tree.
const CANONICAL_MODES: &[&[u8]] = &[b"40000", b"100644", b"100755", b"120000", b"160000"];

/// The regular files of `dir` (a removal's whiteout is none).
fn regular_files(dir: &Path) -> Result<impl Iterator<Item = PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path()))
}

/// The loose object at `path`: its kind and its body.
fn read(path: &Path) -> Result<(String, Vec<u8>), String> {
    let unreadable = |why: String| format!("the object {}: {why}", path.display());
    let file = File::open(path).map_err(|e| unreadable(e.to_string()))?;
    let mut inflated = Vec::new();
    flate2::read::ZlibDecoder::new(file)
        .take(OBJECT_LIMIT + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| unreadable(e.to_string()))?;
    if inflated.len() as u64 > OBJECT_LIMIT {
        return Err(unreadable(format!(
            "larger than {} MiB",
            OBJECT_LIMIT >> 20
        )));
    }
    let nul = inflated
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| unreadable("no header".into()))?;
    let kind = String::from_utf8_lossy(&inflated[..nul])
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    Ok((kind, inflated[nul + 1..].to_vec()))
}

/// A tree entry: its mode, its name and the named object's id in hex.
type TreeEntry<'a> = (&'a [u8], &'a [u8], String);

/// A tree's entries: `MODE NAME\0` and a 20-byte SHA-1, over and over;
/// none unless git could have written the tree: every mode one git
/// writes, every name one component (no `/`, not empty, `.` or `..`),
/// no name twice (git merges two entries of one name at checkout, which
/// no judging of either tree alone would see).
fn tree_entries(mut body: &[u8]) -> Option<Vec<TreeEntry<'_>>> {
    let mut entries: Vec<TreeEntry> = Vec::new();
    let mut names = std::collections::HashSet::new();
    while !body.is_empty() {
        let space = body.iter().position(|b| *b == b' ')?;
        let nul = space + body[space..].iter().position(|b| *b == 0)?;
        let id = body.get(nul + 1..nul + 21)?;
        let (mode, name) = (&body[..space], &body[space + 1..nul]);
        let plain = !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/');
        if !CANONICAL_MODES.contains(&mode) || !plain || !names.insert(name) {
            return None;
        }
        let hex = id.iter().map(|b| format!("{b:02x}")).collect();
        entries.push((mode, name, hex));
        body = &body[nul + 21..];
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Writes a loose object of `kind` and `body`; returns its id (not
    /// its hash: any 40 hex digits name it here).
    fn loose(dir: &Path, id: &str, kind: &str, body: &[u8]) {
        let fan = dir.join(&id[..2]);
        std::fs::create_dir_all(&fan).unwrap();
        let mut raw = format!("{kind} {}\0", body.len()).into_bytes();
        raw.extend_from_slice(body);
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&raw).unwrap();
        std::fs::write(fan.join(&id[2..]), zlib.finish().unwrap()).unwrap();
    }

    fn id(digit: char) -> String {
        std::iter::repeat_n(digit, 40).collect()
    }

    fn tree(entries: &[(&str, &str, char)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (mode, name, object) in entries {
            body.extend_from_slice(format!("{mode} {name}\0").as_bytes());
            body.extend_from_slice(&[(object.to_digit(16).unwrap() * 17) as u8; 20]);
        }
        body
    }

    fn commit(tree: char) -> Vec<u8> {
        format!("tree {}\nauthor a <a> 0 +0000\n\nm\n", id(tree)).into_bytes()
    }

    #[test]
    fn a_new_tree_shaped_as_a_git_directory_is_not_kept_named_or_not() {
        let objects = tempfile::tempdir().unwrap();
        let at = objects.path();
        assert_eq!(plant_no_git_dir(&at.join("none"), &[]), Ok(()));
        // head., Objects and refs: folded, a git directory; no commit names
        // it yet (the next run's could).
        let evil = tree(&[
            ("100644", "head.", '1'),
            ("40000", "Objects", '2'),
            ("40000", "refs", '3'),
        ]);
        loose(at, &id('b'), "tree", &evil);
        assert!(
            plant_no_git_dir(at, &[])
                .unwrap_err()
                .contains("git directory")
        );
    }

    /// A commit of `d/HEAD` alone, beside untracked `d/objects` and
    /// `d/refs`: checked out, the shape is whole. However the tree is
    /// reached: a zero-padded mode, or a second name for the same tree.
    #[test]
    fn a_commit_completing_a_git_directory_in_the_work_tree_is_not_kept() {
        let work = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(work.path().join("d/objects")).unwrap();
        std::fs::create_dir_all(work.path().join("d/refs")).unwrap();
        let work = [work.path().to_path_buf()];
        for root in [
            tree(&[("40000", "d", '2')]),
            tree(&[("40000", "a", '2'), ("40000", "d", '2')]),
        ] {
            let objects = tempfile::tempdir().unwrap();
            let at = objects.path();
            loose(at, &id('2'), "tree", &tree(&[("100644", "HEAD", '1')]));
            loose(at, &id('3'), "tree", &root);
            loose(at, &id('4'), "commit", &commit('3'));
            assert_eq!(plant_no_git_dir(at, &[]), Ok(()));
            assert!(plant_no_git_dir(at, &work).unwrap_err().contains("`d`"));
        }
        // Trees git would not write: a mode it reads as a directory
        // (zero-padded, or wrapping past 32 bits), a name with a `/`, a
        // name twice (merged at checkout), an upper-case tree id.
        for root in [
            tree(&[("040000", "d", '2')]),
            tree(&[("40000040000", "d", '2')]),
            tree(&[("100644", "d/HEAD", '1')]),
            tree(&[("40000", "d", '2'), ("40000", "d", '2')]),
        ] {
            let objects = tempfile::tempdir().unwrap();
            loose(objects.path(), &id('3'), "tree", &root);
            assert!(plant_no_git_dir(objects.path(), &[]).is_err());
        }
        let objects = tempfile::tempdir().unwrap();
        loose(
            objects.path(),
            &id('3'),
            "tree",
            &tree(&[("100644", "x", '1')]),
        );
        let upper = format!("tree {}\nauthor a <a> 0 +0000\n\nm\n", "3".repeat(39) + "F");
        loose(objects.path(), &id('4'), "commit", upper.as_bytes());
        assert!(plant_no_git_dir(objects.path(), &[]).is_err());
        // A tree that names itself is read once at each place.
        let objects = tempfile::tempdir().unwrap();
        loose(
            objects.path(),
            &id('d'),
            "tree",
            &tree(&[("40000", "loop", 'd')]),
        );
        loose(objects.path(), &id('e'), "commit", &commit('d'));
        assert_eq!(plant_no_git_dir(objects.path(), &work), Ok(()));
    }

    #[test]
    fn a_pack_or_an_unreadable_object_keeps_the_commit_out() {
        let objects = tempfile::tempdir().unwrap();
        let at = objects.path();
        std::fs::create_dir_all(at.join("pack")).unwrap();
        std::fs::write(at.join("pack/pack-1.idx"), b"").unwrap();
        assert_eq!(plant_no_git_dir(at, &[]), Ok(()));
        std::fs::write(at.join("pack/pack-1.pack"), b"PACK").unwrap();
        assert!(plant_no_git_dir(at, &[]).unwrap_err().contains("pack"));
        let other = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(other.path().join("dd")).unwrap();
        std::fs::write(other.path().join("dd/44"), b"not zlib").unwrap();
        assert!(plant_no_git_dir(other.path(), &[]).is_err());
        // A name git never writes (upper-case hex): it could hide another.
        let named = tempfile::tempdir().unwrap();
        loose(named.path(), &"A".repeat(40), "blob", b"x");
        let why = plant_no_git_dir(named.path(), &[]).unwrap_err();
        assert!(why.contains("not an object name"), "{why}");
    }
}
