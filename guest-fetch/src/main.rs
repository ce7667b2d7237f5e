//! `fetch [-o FILE] [-f] [-L] [-s] [-H 'Name: value']... URL`: downloads
//! URL (http or https) through wasi:http and writes the body to stdout or,
//! atomically, to FILE. The host decides where requests may go; a refused
//! request fails like an unreachable host.
//!
//! Exit codes: 0 done; 1 the request failed (refused, unreachable, TLS,
//! too many redirects); 2 usage; 22 an HTTP error status with `-f`;
//! 23 the output could not be written.

use std::io::Write;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use wasip2::io::streams::StreamError;

const USAGE: &str = "usage: fetch [-o FILE] [-f] [-L] [-s] [-H 'Name: value']... URL";
/// Redirects followed with `-L`, as curl's default limit is larger but
/// finite.
const MAX_REDIRECTS: usize = 10;

struct Options {
    url: String,
    output: Option<String>,
    fail: bool,
    follow: bool,
    silent: bool,
    headers: Vec<(String, String)>,
}

/// Why fetch stopped, with its exit code.
struct Failure(u8, String);

fn main() {
    if let Some(pwd) = std::env::var_os("PWD") {
        // cordon gives no `.` to resolve relative paths in: `$PWD` is the
        // working directory, as an absolute path inside the root.
        let _ = std::env::set_current_dir(pwd);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (code, why) = match parse(&args) {
        Err(why) => (2, format!("{why}\n{USAGE}")),
        Ok(options) => match run(&options) {
            Ok(()) => return,
            Err(Failure(code, _)) if options.silent && code != 2 => (code, String::new()),
            Err(Failure(code, why)) => (code, why),
        },
    };
    if !why.is_empty() {
        eprintln!("fetch: {why}");
    }
    let _ = std::io::stdout().flush();
    // The exact code: returning from main reports only success or failure.
    wasip2::cli::exit::exit_with_code(code);
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        url: String::new(),
        output: None,
        fail: false,
        follow: false,
        silent: false,
        headers: Vec::new(),
    };
    let mut args = args.iter();
    let mut url = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-o" | "--output" => {
                options.output = Some(args.next().ok_or("-o needs a FILE")?.clone())
            }
            "-f" | "--fail" => options.fail = true,
            "-L" | "--location" => options.follow = true,
            "-s" | "--silent" => options.silent = true,
            "-H" | "--header" => {
                let header = args.next().ok_or("-H needs 'Name: value'")?;
                let (name, value) = header
                    .split_once(':')
                    .ok_or_else(|| format!("{header}: expected 'Name: value'"))?;
                options
                    .headers
                    .push((name.trim().to_string(), value.trim().to_string()));
            }
            flag if flag.starts_with('-') && flag != "-" => {
                return Err(format!("unknown option {flag}"));
            }
            _ if url.is_some() => return Err("one URL only".into()),
            _ => url = Some(arg.clone()),
        }
    }
    options.url = url.ok_or("no URL")?;
    Ok(options)
}

fn run(options: &Options) -> Result<(), Failure> {
    let mut url = options.url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let response = get(&url, &options.headers)?;
        let status = response.status();
        let location = header(&response, "location");
        match location {
            Some(location) if options.follow && (300..400).contains(&status) => {
                url = resolve(&url, &location);
                continue;
            }
            _ => {}
        }
        if options.fail && status >= 400 {
            return Err(Failure(22, format!("{url}: HTTP status {status}")));
        }
        return write_body(response, options.output.as_deref());
    }
    Err(Failure(
        1,
        format!("{}: more than {MAX_REDIRECTS} redirects", options.url),
    ))
}

/// Sends `GET url` and waits for the response head.
fn get(url: &str, headers: &[(String, String)]) -> Result<IncomingResponse, Failure> {
    let failed = |why: String| Failure(1, format!("{url}: {why}"));
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return Err(Failure(2, format!("{url}: only http:// and https:// URLs")));
    };
    let (authority, path) = rest
        .find(['/', '?'])
        .map_or((rest, "/"), |i| rest.split_at(i));
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(name, value.as_bytes())
            .map_err(|e| Failure(2, format!("header {name}: {e:?}")))?;
    }
    let request = OutgoingRequest::new(fields);
    let invalid = |what: &str| Failure(2, format!("{url}: invalid {what}"));
    request
        .set_method(&Method::Get)
        .map_err(|()| invalid("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| invalid("host"))?;
    request
        .set_path_with_query(Some(&path))
        .map_err(|()| invalid("path"))?;
    let body = request
        .body()
        .map_err(|()| failed("no request body".into()))?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| failed(describe(&e)))?;
    OutgoingBody::finish(body, None).map_err(|e| failed(describe(&e)))?;
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(Ok(response))) => Ok(response),
        Some(Ok(Err(e))) => Err(failed(describe(&e))),
        _ => Err(failed("no response".into())),
    }
}

fn describe(error: &ErrorCode) -> String {
    match error {
        ErrorCode::HttpRequestDenied => "refused by the sandbox (not granted)".into(),
        ErrorCode::DestinationNotFound => "host not found".into(),
        other => format!("{other:?}"),
    }
}

fn header(response: &IncomingResponse, name: &str) -> Option<String> {
    let values = response.headers().get(name);
    values
        .first()
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// `location` read relative to `base`: absolute URLs as they are, paths
/// on the same scheme and host.
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let origin_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|j| start + j))
        .unwrap_or(base.len());
    if location.starts_with('/') {
        format!("{}{location}", &base[..origin_end])
    } else {
        let dir_end = base
            .rfind('/')
            .filter(|i| *i >= origin_end)
            .map_or(base.len(), |i| i + 1);
        let joiner = if dir_end == base.len() && !base.ends_with('/') {
            "/"
        } else {
            ""
        };
        format!("{}{joiner}{location}", &base[..dir_end])
    }
}

/// Streams the body to stdout, or to a temporary file renamed over
/// `output` once complete (nothing half-written is left on failure).
fn write_body(response: IncomingResponse, output: Option<&str>) -> Result<(), Failure> {
    let body = response
        .consume()
        .map_err(|()| Failure(1, "no response body".into()))?;
    let stream = body
        .stream()
        .map_err(|()| Failure(1, "no response body".into()))?;
    let write_failed = |what: &str, e: std::io::Error| Failure(23, format!("{what}: {e}"));
    let (mut sink, temp): (Box<dyn Write>, Option<String>) = match output {
        None => (Box::new(std::io::stdout().lock()), None),
        Some(path) => {
            let temp = format!("{path}.fetch-partial");
            let file = std::fs::File::create(&temp).map_err(|e| write_failed(&temp, e))?;
            (Box::new(std::io::BufWriter::new(file)), Some(temp))
        }
    };
    let cleanup = |temp: &Option<String>| {
        if let Some(temp) = temp {
            let _ = std::fs::remove_file(temp);
        }
    };
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                if let Err(e) = sink.write_all(&chunk) {
                    cleanup(&temp);
                    return Err(write_failed(output.unwrap_or("stdout"), e));
                }
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                cleanup(&temp);
                return Err(Failure(
                    1,
                    format!("reading the body: {}", e.to_debug_string()),
                ));
            }
        }
    }
    if let Err(e) = sink.flush() {
        cleanup(&temp);
        return Err(write_failed(output.unwrap_or("stdout"), e));
    }
    drop(sink);
    if let (Some(temp), Some(path)) = (temp, output) {
        std::fs::rename(&temp, path).map_err(|e| write_failed(path, e))?;
    }
    Ok(())
}
