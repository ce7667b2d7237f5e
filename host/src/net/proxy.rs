//! The host side of a native command's network: an HTTP proxy (CONNECT
//! and absolute-form requests) and a SOCKS5 proxy on one listening socket
//! that lives in the command's network namespace, so it is the only thing
//! the command can reach. Every connection is decided by the [`Gate`]
//! before the host opens it, to an address the gate checked.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::Gate;

/// Where the proxy listens inside the command's network namespace (a new
/// namespace has every port free).
pub const PORT: u16 = 3128;

/// How long a client has to say where it wants to go.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting to one address may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head read for an HTTP request.
const MAX_HEAD: usize = 64 * 1024;
/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 256;

/// The variables that point clients at the proxy.
pub fn environment() -> Vec<(String, String)> {
    let http = format!("http://127.0.0.1:{PORT}");
    let socks = format!("socks5h://127.0.0.1:{PORT}");
    let mut env = Vec::new();
    for (name, value) in [
        ("HTTP_PROXY", &http),
        ("HTTPS_PROXY", &http),
        ("ALL_PROXY", &socks),
    ] {
        env.push((name.to_string(), value.clone()));
        env.push((name.to_ascii_lowercase(), value.clone()));
    }
    env.push(("NO_PROXY".into(), String::new()));
    env.push(("no_proxy".into(), String::new()));
    env
}

/// A running proxy; [`Proxy::stop`] ends it.
pub struct Proxy {
    /// Shut down through its descriptor to stop; native commands, the only
    /// users, run on unix systems alone.
    #[cfg_attr(not(unix), allow(dead_code))]
    listener: Arc<TcpListener>,
    stopping: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Proxy {
    /// Serves `listener` until stopped, deciding through `gate`.
    pub fn serve(listener: TcpListener, gate: Arc<Gate>) -> Proxy {
        let listener = Arc::new(listener);
        let stopping = Arc::new(AtomicBool::new(false));
        let (accepting, stop) = (Arc::clone(&listener), Arc::clone(&stopping));
        let thread = std::thread::spawn(move || accept_loop(&accepting, &gate, &stop));
        Proxy {
            listener,
            stopping,
            thread,
        }
    }

    /// Stops accepting; connections under way end with their command.
    pub fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Native commands (the only users) run on unix systems alone.
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: shutdown on a descriptor this proxy owns; it wakes the
            // blocked accept.
            unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        }
        let _ = self.thread.join();
    }
}

fn accept_loop(listener: &TcpListener, gate: &Arc<Gate>, stopping: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(_) if stopping.load(Ordering::SeqCst) => return,
            // Out of descriptors, a connection reset before accept: the
            // next one may do.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let gate = Arc::clone(gate);
        let active = Arc::clone(&active);
        std::thread::spawn(move || {
            let _ = serve_client(client, &gate);
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

fn serve_client(mut client: TcpStream, gate: &Gate) -> io::Result<()> {
    client.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let mut first = [0u8; 1];
    client.read_exact(&mut first)?;
    let upstream = if first[0] == 5 {
        socks5(&mut client, gate)?
    } else {
        http(&mut client, first[0], gate)?
    };
    match upstream {
        Some(upstream) => relay(client, upstream),
        None => Ok(()),
    }
}

/// Connects to the first of `targets` that answers.
fn connect(targets: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in targets {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(err) => last = err,
        }
    }
    Err(last)
}

/// SOCKS5 (RFC 1928), no authentication, CONNECT only. `None` when the
/// client was answered with a refusal.
fn socks5(client: &mut TcpStream, gate: &Gate) -> io::Result<Option<TcpStream>> {
    let mut count = [0u8; 1];
    client.read_exact(&mut count)?;
    let mut methods = vec![0u8; usize::from(count[0])];
    client.read_exact(&mut methods)?;
    if !methods.contains(&0) {
        client.write_all(&[5, 0xff])?;
        return Ok(None);
    }
    client.write_all(&[5, 0])?;
    let mut head = [0u8; 4];
    client.read_exact(&mut head)?;
    let reply =
        |client: &mut TcpStream, code: u8| client.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
    let host = match head[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip)?;
            std::net::Ipv4Addr::from(ip).to_string()
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip)?;
            std::net::Ipv6Addr::from(ip).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len)?;
            let mut name = vec![0u8; usize::from(len[0])];
            client.read_exact(&mut name)?;
            // Not UTF-8 cannot be a host name; the gate refuses U+FFFD.
            String::from_utf8_lossy(&name).into_owned()
        }
        _ => {
            reply(client, 8)?;
            return Ok(None);
        }
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port)?;
    if head[0] != 5 || head[1] != 1 {
        // Only CONNECT: no BIND, no UDP ASSOCIATE.
        reply(client, 7)?;
        return Ok(None);
    }
    let targets = match gate.connect_targets(&host, u16::from_be_bytes(port)) {
        Ok(targets) => targets,
        Err(_) => {
            reply(client, 2)?;
            return Ok(None);
        }
    };
    match connect(&targets) {
        Ok(upstream) => {
            reply(client, 0)?;
            Ok(Some(upstream))
        }
        Err(_) => {
            reply(client, 5)?;
            Ok(None)
        }
    }
}

/// An HTTP proxy request: `CONNECT host:port` opens a tunnel; a request
/// with an absolute `http://` URL is sent on to that host. `None` when the
/// client was answered with a refusal.
fn http(client: &mut TcpStream, first: u8, gate: &Gate) -> io::Result<Option<TcpStream>> {
    let (head, rest) = match read_head(client, vec![first])? {
        Head::Complete(head, rest) => (head, rest),
        Head::TooLarge => {
            answer(client, 431, "request head too large")?;
            return Ok(None);
        }
        Head::Closed => return Ok(None),
    };
    let Ok(text) = std::str::from_utf8(&head) else {
        answer(client, 400, "request head is not UTF-8")?;
        return Ok(None);
    };
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut words = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        answer(client, 400, "malformed request line")?;
        return Ok(None);
    };
    let (authority, path, default_port) = if method == "CONNECT" {
        (target, None, None)
    } else if let Some(after) = target.strip_prefix("http://") {
        let (authority, path) = after.find('/').map_or((after, "/"), |i| after.split_at(i));
        (authority, Some(path), Some(80))
    } else {
        answer(client, 400, "only CONNECT and absolute http:// requests")?;
        return Ok(None);
    };
    let Some((host, port)) = split_authority(authority, default_port) else {
        answer(client, 400, "expected HOST:PORT")?;
        return Ok(None);
    };
    let targets = match gate.connect_targets(host, port) {
        Ok(targets) => targets,
        Err(why) => {
            answer(client, 403, &format!("cordon: {why}"))?;
            return Ok(None);
        }
    };
    let Ok(mut upstream) = connect(&targets) else {
        answer(
            client,
            502,
            &format!("cordon: could not connect to {authority}"),
        )?;
        return Ok(None);
    };
    let Some(path) = path else {
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
        upstream.write_all(&rest)?;
        return Ok(Some(upstream));
    };
    // One request per connection: the next one may name another host, so
    // the connection closes after this response, both ways.
    // The server routes by Host: it must name the host the gate decided.
    let mut forwarded = format!("{method} {path} {version}\r\nHost: {authority}\r\n");
    forwarded.push_str(&hop_by_hop_dropped(lines.filter(|l| !is_header(l, "host"))));
    upstream.write_all(forwarded.as_bytes())?;
    upstream.write_all(&rest)?;
    let request_body = relay_one_way(client.try_clone()?, upstream.try_clone()?);
    upstream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let head = read_head(&mut upstream, Vec::new());
    upstream.set_read_timeout(None)?;
    if let Ok(Head::Complete(head, rest)) = head {
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut lines = text.split("\r\n");
        let status = lines.next().unwrap_or_default().to_string();
        let response = format!("{status}\r\n{}", hop_by_hop_dropped(lines));
        client.write_all(response.as_bytes())?;
        client.write_all(&rest)?;
        let _ = io::copy(&mut upstream, client);
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = upstream.shutdown(Shutdown::Both);
    let _ = request_body.join();
    Ok(None)
}

/// Whether the header line `line` is `name` (compared as HTTP does).
fn is_header(line: &str, name: &str) -> bool {
    line.split_once(':')
        .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
}

/// The header lines without `Proxy-*`, `Connection` and `Keep-Alive`, and
/// with `Connection: close`, then the blank line that ends a head.
fn hop_by_hop_dropped<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let mut kept = String::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !(name.starts_with("proxy-") || name == "connection" || name == "keep-alive") {
            kept.push_str(line);
            kept.push_str("\r\n");
        }
    }
    kept.push_str("Connection: close\r\n\r\n");
    kept
}

/// An HTTP head read off a stream.
enum Head {
    /// The head (through `\r\n\r\n`) and what came after it.
    Complete(Vec<u8>, Vec<u8>),
    TooLarge,
    Closed,
}

/// Reads `stream`, after the bytes already `read`, up to the end of a head.
fn read_head(stream: &mut TcpStream, read: Vec<u8>) -> io::Result<Head> {
    let mut head = read;
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = head.split_off(end + 4);
            return Ok(Head::Complete(head, rest));
        }
        if head.len() > MAX_HEAD {
            return Ok(Head::TooLarge);
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(Head::Closed);
        }
        head.extend_from_slice(&buf[..n]);
    }
}

/// `host:port` or `[v6]:port`; the port may be left out where the scheme
/// gives one.
fn split_authority(authority: &str, default_port: Option<u16>) -> Option<(&str, u16)> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port.parse().ok()?)),
        _ => (authority, default_port),
    };
    Some((host, port?))
}

fn answer(client: &mut TcpStream, code: u16, text: &str) -> io::Result<()> {
    let reason = match code {
        400 => "Bad Request",
        403 => "Forbidden",
        431 => "Request Header Fields Too Large",
        _ => "Bad Gateway",
    };
    let body = format!("{text}\n");
    write!(
        client,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Copies both ways until each side has finished sending.
fn relay(client: TcpStream, upstream: TcpStream) -> io::Result<()> {
    client.set_read_timeout(None)?;
    let up = relay_one_way(client.try_clone()?, upstream.try_clone()?);
    let (mut upstream_in, mut client_out) = (upstream, client);
    let _ = io::copy(&mut upstream_in, &mut client_out);
    let _ = client_out.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}

/// Copies `from` to `to` on a thread, then ends `to`'s sending side.
fn relay_one_way(mut from: TcpStream, mut to: TcpStream) -> JoinHandle<()> {
    let _ = from.set_read_timeout(None);
    std::thread::spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities() {
        assert_eq!(split_authority("a.test:443", None), Some(("a.test", 443)));
        assert_eq!(split_authority("a.test", Some(80)), Some(("a.test", 80)));
        assert_eq!(split_authority("a.test", None), None);
        assert_eq!(split_authority("[::1]:8080", None), Some(("[::1]", 8080)));
        assert_eq!(split_authority("[::1]", Some(80)), Some(("[::1]", 80)));
        assert_eq!(split_authority("a.test:x", None), None);
    }
}
