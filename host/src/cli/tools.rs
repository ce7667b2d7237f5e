//! `cordon tools`: the built-in tools and the project's own, and `cordon
//! tools add`, which pins a project tool by digest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, bail};

use crate::display::say;
use crate::net::Network;
use crate::program_file::PROGRAM_LIMIT;
use crate::project_tools::{self, PINS_FILE};
use crate::tools;

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
    match args.add {
        None => list(&root),
        Some(ToolsCommand::Add(add)) => self::add(&root, add),
    }
}

fn list(root: &Path) -> Result<ExitCode> {
    for tool in tools::BUILT_IN {
        println!("{:<12} {} {}", tool.name, tool.krate, tool.version);
    }
    let mib = |module: &tools::Embedded| module.bytes.len() as f64 / (1 << 20) as f64;
    println!(
        "({} tools: a WASIp1 module of {:.1} MiB, and fetch, a WASIp2 component of {:.1} MiB)",
        tools::BUILT_IN.len(),
        mib(&tools::TOOLS),
        mib(&tools::FETCH)
    );
    let listed = project_tools::listing(root).map_err(anyhow::Error::msg)?;
    if listed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "\nproject tools in {}:",
        root.join(".cordon/tools").display()
    );
    for tool in listed {
        let (digest, state) = tool.shown();
        println!("{:<12} {digest} {state}", tool.name);
    }
    Ok(ExitCode::SUCCESS)
}

fn add(root: &Path, args: AddArgs) -> Result<ExitCode> {
    let allow = match args.network {
        Some(Network::Allow(list)) => list,
        _ => {
            let host = reqwest::Url::parse(&args.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| "HOST".to_string());
            bail!(
                "tools add: name the hosts the download may reach: --network allow={host} \
                 (and any host it redirects to)"
            );
        }
    };
    let resolver = crate::session::pinned_resolver(&args.resolve)?;
    let argv = ["cordon", "tools", "add", &args.name, &args.url].map(String::from);
    let notes = Arc::new(super::Terminal { verbose: false });
    let gate = crate::download::gate_for(argv.into(), root, allow, resolver, notes);
    let added = project_tools::add(root, &args.name, &args.url, &args.sha256, |url| {
        crate::download::fetch(url, &gate, PROGRAM_LIMIT)
    })
    .map_err(|e| anyhow::anyhow!("tools add {}: {e}", args.name))?;
    say(format!(
        "{}: {} bytes, sha256:{}, pinned in {PINS_FILE}",
        added.path.display(),
        added.bytes,
        args.sha256.to_ascii_lowercase()
    ));
    Ok(ExitCode::SUCCESS)
}
