//! The macOS backend's policy: a Seatbelt (SBPL) profile generated from the
//! same [`Plan`], run with `/usr/bin/sandbox-exec -p`. Pure text, so it is
//! built and tested on every OS.
//!
//! Deny by default; read everything but the secrets; write only in the
//! writable trees minus the protected subpaths (a `subpath` filter also
//! matches paths that do not exist yet); no network unless on.

use std::fmt::Write;
use std::path::Path;

use super::{Plan, PlanNetwork};

/// Where the profile is run from.
pub const SANDBOX_EXEC: &str = "/usr/bin/sandbox-exec";

/// What every command needs to start and run at all.
const BASE: &str = r#"(version 1)
(deny default)
(allow process-exec process-fork)
(allow signal (target same-sandbox))
(allow process-info* (target same-sandbox))
(allow sysctl-read)
(allow mach-lookup)
(allow ipc-posix-shm)
(allow pseudo-tty)
(allow file-ioctl (literal "/dev/tty") (regex #"^/dev/ttys[0-9]+$"))
(allow file-write-data (literal "/dev/null") (literal "/dev/zero") (literal "/dev/tty") (regex #"^/dev/ttys[0-9]+$"))
"#;

/// A path that cannot be written as an SBPL string literal.
#[derive(Debug, thiserror::Error)]
#[error("{0}: cannot be expressed in a Seatbelt profile (not UTF-8)")]
pub struct Unrepresentable(String);

fn literal(path: &Path) -> Result<String, Unrepresentable> {
    let text = path
        .to_str()
        .ok_or_else(|| Unrepresentable(path.display().to_string()))?;
    Ok(format!(
        "\"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// `(require-not (subpath P))` for each of `paths`.
fn excluding(paths: &[&Path]) -> Result<String, Unrepresentable> {
    let mut out = String::new();
    for path in paths {
        write!(out, " (require-not (subpath {}))", literal(path)?).expect("write to String");
    }
    Ok(out)
}

/// The profile for `plan`, with `tmpdir` as the command's TMPDIR.
///
/// # Errors
///
/// [`Unrepresentable`] for a path that is not UTF-8: a rule cordon cannot
/// write is a rule it will not silently drop.
pub fn profile(plan: &Plan, tmpdir: &Path) -> Result<String, Unrepresentable> {
    let mut out = String::from(BASE);
    let secrets: Vec<&Path> = plan.secrets.iter().map(|p| p.as_path()).collect();
    writeln!(
        out,
        "(allow file-read* (require-all (subpath \"/\"){}))",
        excluding(&secrets)?
    )
    .expect("write to String");
    let mut writable: Vec<&Path> = plan.writable.iter().map(|p| p.as_path()).collect();
    writable.push(tmpdir);
    for dir in writable {
        let protected: Vec<&Path> = plan
            .protected
            .iter()
            .filter(|p| p.starts_with(dir))
            .map(|p| p.as_path())
            .collect();
        writeln!(
            out,
            "(allow file-write* (require-all (subpath {}){}))",
            literal(dir)?,
            excluding(&protected)?
        )
        .expect("write to String");
    }
    if plan.network == PlanNetwork::On {
        out.push_str("(allow network*)\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn plan(network: bool) -> Plan {
        Plan {
            program: "/usr/bin/true".into(),
            argv: vec!["true".into()],
            cwd: "/p".into(),
            env: Vec::new(),
            writable: vec!["/p".into()],
            protected: vec!["/p/.git".into(), "/p/.cordon".into()],
            names_root: Some("/p".into()),
            secrets: vec!["/p/.env".into(), "/Users/me/.ssh".into()],
            secret_dirs: Vec::new(),
            git_commit: Vec::new(),
            network: if network {
                PlanNetwork::On
            } else {
                PlanNetwork::Off
            },
            no_namespaces: false,
            limits: Default::default(),
        }
    }

    #[test]
    fn denies_by_default_and_carves_protected_and_secret_paths() {
        let text = profile(&plan(false), Path::new("/tmp/t")).unwrap();
        assert!(text.starts_with("(version 1)\n(deny default)\n"));
        assert!(text.contains(
            "(allow file-read* (require-all (subpath \"/\") \
             (require-not (subpath \"/p/.env\")) (require-not (subpath \"/Users/me/.ssh\"))))"
        ));
        assert!(text.contains(
            "(allow file-write* (require-all (subpath \"/p\") \
             (require-not (subpath \"/p/.git\")) (require-not (subpath \"/p/.cordon\"))))"
        ));
        assert!(text.contains("(allow file-write* (require-all (subpath \"/tmp/t\")))"));
        assert!(!text.contains("network"));
        assert!(
            profile(&plan(true), Path::new("/tmp/t"))
                .unwrap()
                .contains("(allow network*)")
        );
    }

    #[test]
    fn quotes_are_escaped_and_non_utf8_is_refused() {
        let mut p = plan(false);
        p.writable = vec![PathBuf::from("/p/a\"b\\c")];
        let text = profile(&p, Path::new("/t")).unwrap();
        assert!(text.contains(r#"(subpath "/p/a\"b\\c")"#), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            p.secrets = vec![PathBuf::from(std::ffi::OsStr::from_bytes(b"/p/\xff"))];
            assert!(profile(&p, Path::new("/t")).is_err());
        }
    }
}
