//! `cordon doctor`: what this machine gives cordon (the engine, the compile
//! cache, the native sandbox's layers) and the settings a run in a project
//! would go by, with where each came from.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::broker::project;
use crate::secrets::SecretPatterns;
use crate::settings::Settings;
use crate::wasi::{CompileCache, WASMTIME_VERSION};

/// The report on the machine and on the project at `root`, line by line;
/// `cache` is the compile cache runs would use (`None`: off).
///
/// # Errors
///
/// `root` is not a directory, or its settings files cannot be read.
pub fn report(root: &Path, cache: Option<&CompileCache>) -> Result<Vec<String>> {
    let mut lines = vec![
        format!("cordon {}", env!("CARGO_PKG_VERSION")),
        format!("wasmtime {WASMTIME_VERSION} (cranelift; WASIp1 modules and WASIp2 components)"),
    ];
    lines.push(match cache {
        Some(cache) => {
            let (entries, bytes) = cache.usage();
            format!(
                "compile cache: {} ({entries} entries, {:.1} MiB)",
                cache.dir().display(),
                bytes as f64 / (1 << 20) as f64
            )
        }
        None => "compile cache: off".into(),
    });
    lines.push("native sandbox layers:".into());
    for layer in crate::native::layers() {
        lines.push(match layer.state {
            Ok(detail) => format!("  {:<11} available: {detail}", layer.name),
            Err(why) => format!("  {:<11} missing: {why}", layer.name),
        });
    }
    let root = crate::policy::canonical_root(root)?;
    let tracked = crate::tracked::secrets(&root, &SecretPatterns::default());
    if !tracked.is_empty() {
        lines.push(crate::tracked::warning(&tracked));
    }
    lines.push(format!(
        "settings for {} (before any flag):",
        root.display()
    ));
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let settings = Settings::load(
        &root,
        project::user_config_dir().as_deref(),
        home.as_deref(),
    )
    .map_err(anyhow::Error::msg)?;
    lines.extend(
        settings
            .describe()
            .into_iter()
            .map(|line| format!("  {line}")),
    );
    if let Some(note) = &settings.left_out {
        lines.push(format!("  {}", crate::display::text(note)));
    }
    Ok(lines)
}
