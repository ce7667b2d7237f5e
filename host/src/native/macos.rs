//! The macOS backend: the plan's Seatbelt profile under sandbox-exec.

use std::os::unix::process::CommandExt;
use std::process::Command;

use super::{Layer, NativeError, NativeIo, NativeOutcome, Plan, seatbelt, spawn};

pub fn run(plan: &Plan, io: NativeIo) -> Result<NativeOutcome, NativeError> {
    if !std::path::Path::new(seatbelt::SANDBOX_EXEC).exists() {
        return Err(NativeError::LayerMissing(format!(
            "{} is missing; native commands need Seatbelt (WASI tools still run)",
            seatbelt::SANDBOX_EXEC
        )));
    }
    if plan.network == super::PlanNetwork::Proxy {
        return Err(NativeError::LayerMissing(
            "--network allow= for native commands needs a network namespace (Linux); \
             choose --network on or off, or a WASI tool"
                .into(),
        ));
    }
    if !plan.git_commit.is_empty() {
        return Err(NativeError::LayerMissing(
            "the git-commit grant needs a mount namespace (Linux) to keep a commit's \
             writes apart until the command ends"
                .into(),
        ));
    }
    let tmpdir = tempfile::Builder::new()
        .prefix("cordon-tmp-")
        .tempdir()
        .map_err(|e| NativeError::Setup(format!("temporary directory: {e}")))?;
    let profile =
        seatbelt::profile(plan, tmpdir.path()).map_err(|e| NativeError::Setup(e.to_string()))?;
    let mut command = Command::new(seatbelt::SANDBOX_EXEC);
    command
        .arg("-p")
        .arg(profile)
        .arg("--")
        .arg(&plan.program)
        .args(plan.argv.iter().skip(1))
        .arg0(seatbelt::SANDBOX_EXEC)
        .env_clear()
        .envs(plan.env.iter().map(|(k, v)| (k, v)))
        .env("TMPDIR", tmpdir.path())
        .current_dir(&plan.cwd);
    spawn::run_command(&mut command, io, vec!["seatbelt".into()], None)
}

pub fn layers() -> Vec<Layer> {
    let present = std::path::Path::new(seatbelt::SANDBOX_EXEC).exists();
    vec![Layer {
        name: "seatbelt",
        state: if present {
            Ok(format!(
                "{} with a generated profile",
                seatbelt::SANDBOX_EXEC
            ))
        } else {
            Err(format!("{} not found", seatbelt::SANDBOX_EXEC))
        },
    }]
}
