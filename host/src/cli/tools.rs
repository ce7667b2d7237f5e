//! `cordon tools`: the built-in tools and the project's own, and `cordon
//! tools add`, which pins a project tool by digest.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;

use crate::display::say;
use crate::net::Network;
use crate::project_tools::{self, PINS_FILE};

#[derive(clap::Args, Debug)]
pub(super) struct ToolsArgs {
    #[command(subcommand)]
    add: Option<ToolsCommand>,
    /// The project root [default: .].
    #[arg(long, value_name = "DIR", default_value = ".", global = true)]
    root: PathBuf,
}

#[derive(clap::Subcommand, Debug)]
enum ToolsCommand {
    /// Download a WASI tool into .cordon/tools/NAME.wasm and pin it in
    /// .cordon/tools.toml; kept only if its sha256 is the one given.
    Add(AddArgs),
}

#[derive(clap::Args, Debug)]
struct AddArgs {
    /// The name commands call it by.
    name: String,
    /// Where to download it (http or https).
    url: String,
    /// The sha256 its bytes must have.
    #[arg(long, value_name = "HEX")]
    sha256: String,
    /// The hosts the download may reach (and its redirects): the same
    /// allowlist `cordon run` takes.
    #[arg(long, value_name = "allow=HOST[:PORT],...")]
    network: Option<Network>,
    /// Resolve NAME to IP instead of asking DNS.
    #[arg(long, value_name = "NAME=IP")]
    resolve: Vec<String>,
}

/// `cordon tools [add ...]`.
pub(super) fn main(args: ToolsArgs) -> Result<ExitCode> {
    let root = crate::policy::canonical_root(&args.root)?;
    let Some(ToolsCommand::Add(add)) = args.add else {
        let lines = project_tools::report(&root).map_err(anyhow::Error::msg)?;
        return Ok(super::print_lines(&lines));
    };
    let notes = Arc::new(super::Terminal { verbose: false });
    let what = (add.name.as_str(), add.url.as_str(), add.sha256.as_str());
    let added = crate::download::add_project_tool(&root, what, add.network, &add.resolve, notes)
        .map_err(anyhow::Error::msg)?;
    let (path, bytes) = (added.path.display(), added.bytes);
    let digest = add.sha256.to_ascii_lowercase();
    say(format!(
        "{path}: {bytes} bytes, sha256:{digest}, pinned in {PINS_FILE}"
    ));
    Ok(ExitCode::SUCCESS)
}
