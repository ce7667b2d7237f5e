//! `cordon tools`: the built-in tools and the project's own, and `cordon
//! tools add`, which pins a project tool by digest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, bail};

use crate::request::Request;
use crate::display::say;
use crate::net::{self, Decider, Host, Network};
use crate::project_tools::{self, PINS_FILE};
use crate::program_file::PROGRAM_LIMIT;
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
        let found = tool.found.as_deref().map(|d| format!("sha256:{d}"));
        let (digest, state) = match (&tool.pin, &found) {
            (None, Some(found)) => (
                found.clone(),
                format!("unpinned (not in {PINS_FILE}): runs as whatever it is"),
            ),
            (None, None) => ("-".to_string(), "unreadable".to_string()),
            (Some(pin), None) => (
                format!("sha256:{}", pin.sha256),
                format!("{}: MISSING", pin.url),
            ),
            (Some(pin), Some(found)) if *found == format!("sha256:{}", pin.sha256) => {
                (found.clone(), pin.url.clone())
            }
            (Some(pin), Some(found)) => (
                found.clone(),
                format!(
                    "{}: CHANGED, pinned sha256:{}; refused",
                    pin.url, pin.sha256
                ),
            ),
        };
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
    let request = Request {
        argv: vec![
            "cordon".into(),
            "tools".into(),
            "add".into(),
            args.name.clone(),
            args.url.clone(),
        ],
        cwd: root.to_path_buf(),
        engine: "download",
        sandbox: "none",
        escalation: None,
        justification: None,
        program_sha256: None,
    };
    let gate = net::Grants {
        allow,
        resolver,
        decider: Arc::new(OnlyListed),
    }
    .gate(request, Arc::new(super::Terminal { verbose: false }));
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

/// A download reaches only the hosts `--network allow=` names: nobody is
/// asked, and no rule widens it.
struct OnlyListed;

impl Decider for OnlyListed {
    fn decide(
        &self,
        _request: &Request,
        host: &Host,
        port: u16,
        listed: bool,
    ) -> Result<Option<Vec<u16>>, String> {
        if listed {
            return Ok(None);
        }
        Err(format!(
            "{host}:{port} is not in --network allow=... (a download reaches only the hosts named)"
        ))
    }

    fn refused(&self, _request: &Request, _host: &Host, _port: u16, _why: &str) {}
}
