//! Downloads for `cordon tools add`, through the network gate commands
//! use: each hop's host is decided by the gate, resolved by it, and
//! checked (loopback, private, link-local and metadata addresses refused
//! unless the allowlist names that address), and the request connects only
//! to the addresses it returned. Redirects are followed by hand, each one
//! gated again; no proxy from the environment is used.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{StatusCode, Url};

use crate::net::{self, Decider, Gate, Host, Network, Resolver};
use crate::observe::Observer;
use crate::program_file::PROGRAM_LIMIT;
use crate::project_tools;
use crate::request::Request;

/// How many redirects are followed.
const MAX_REDIRECTS: usize = 5;

/// How long a download may take, all hops together.
const TIMEOUT: Duration = Duration::from_secs(300);

/// `cordon tools add`: downloads `url` and keeps it as `root`'s project
/// tool `name` if its sha256 is `sha256` ([`project_tools::add`]). The
/// download reaches only the hosts `network` allows (names in `pins`
/// resolved to their addresses first): nobody is asked, and no rule
/// widens it.
///
/// # Errors
///
/// No allowlist, a pin that is not `NAME=ADDRESS`, or the download or the
/// pin failed.
pub fn add_project_tool(
    root: &Path,
    (name, url, sha256): (&str, &str, &str),
    network: Option<Network>,
    pins: &[String],
    notes: Arc<dyn Observer>,
) -> Result<project_tools::Added, String> {
    let Some(Network::Allow(allow)) = network else {
        let host = Url::parse(url).ok();
        let host = host.as_ref().and_then(Url::host_str).unwrap_or("HOST");
        return Err(format!(
            "tools add: name the hosts the download may reach: --network allow={host} (and \
             any host it redirects to)"
        ));
    };
    let request = Request {
        argv: ["cordon", "tools", "add", name, url]
            .map(String::from)
            .into(),
        cwd: root.to_path_buf(),
        engine: "download",
        sandbox: "none",
        escalation: None,
        justification: None,
        program_sha256: None,
        env: Vec::new(),
    };
    let grants = net::Grants {
        allow,
        resolver: Resolver::pinned(pins)?,
        decider: Arc::new(OnlyListed),
    };
    let gate = grants.gate(request, notes);
    project_tools::add(root, name, url, sha256, |url| {
        fetch(url, &gate, PROGRAM_LIMIT)
    })
    .map_err(|e| format!("tools add {name}: {e}"))
}

/// Decides a download's connections: the hosts listed, and no other.
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

/// The body of `url`, at most `limit` bytes.
///
/// # Errors
///
/// One line: the gate's refusal (already told to the person by the gate),
/// a transport or HTTP error, or a body over `limit`.
pub fn fetch(url: &str, gate: &Gate, limit: u64) -> Result<Vec<u8>, String> {
    let mut url = Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the download: {e}"))?;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    for _ in 0..=MAX_REDIRECTS {
        let hop = runtime
            .block_on(async { tokio::time::timeout_at(deadline, get(&url, gate, limit)).await });
        match hop.map_err(|_| format!("{url}: timed out after {}s", TIMEOUT.as_secs()))?? {
            Hop::Body(bytes) => return Ok(bytes),
            Hop::Redirect(next) => url = next,
        }
    }
    Err(format!("{url}: more than {MAX_REDIRECTS} redirects"))
}

enum Hop {
    Body(Vec<u8>),
    Redirect(Url),
}

/// One request, to the addresses the gate vetted for `url`'s host.
async fn get(url: &Url, gate: &Gate, limit: u64) -> Result<Hop, String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{url}: only http and https URLs are downloaded"));
    }
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Err(format!("{url}: no host to download from"));
    };
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let addrs = gate
        .connect_targets(name, port)
        .map_err(|why| format!("{url}: refused: {why}"))?;
    let tls = (*crate::net::tls::client_config()).clone();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        // Only the vetted addresses: reqwest never resolves the name itself.
        .resolve_to_addrs(name, &addrs)
        .build()
        .map_err(|e| format!("cannot start the download: {e}"))?;
    let mut response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("{url}: {}", error_chain(&e)))?;
    let status = response.status();
    if status.is_redirection() {
        let next = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url.join(l).ok())
            .ok_or_else(|| format!("{url}: {status} without a usable Location"))?;
        return Ok(Hop::Redirect(next));
    }
    if status != StatusCode::OK {
        return Err(format!("{url}: the server answered {status}"));
    }
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(format!("{url}: larger than {limit} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("{url}: {}", error_chain(&e)))?
    {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(format!("{url}: larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Hop::Body(body))
}

/// An error and its causes on one line (reqwest's own says only "error
/// sending request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}
