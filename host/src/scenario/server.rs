//! A scenario's static HTTP server on loopback: the package registry a
//! step downloads from, with no outside network involved.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A running server; stops when dropped.
pub struct Server {
    /// The host name it answers to.
    pub name: String,
    pub port: u16,
    /// Requests answered so far: a step that must send nothing out is
    /// checked by this, not by its messages.
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `dir` as host `name` on 127.0.0.1 (a free port). `{{origin}}`
    /// in a served text file becomes `http://NAME:PORT`.
    pub fn start(name: &str, dir: &Path) -> std::io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let origin = format!("http://{name}:{port}");
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let counted = Arc::clone(&requests);
        let dir = dir.to_path_buf();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (dir, origin) = (dir.clone(), origin.clone());
                        let counted = Arc::clone(&counted);
                        std::thread::spawn(move || serve(stream, &dir, &origin, &counted));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(Server {
            name: name.to_string(),
            port,
            requests,
            stop,
            thread: Some(thread),
        })
    }

    /// How many requests it has answered.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers requests on one connection (keep-alive), GET and HEAD only,
/// counting each in `requests` before it is answered.
fn serve(mut stream: TcpStream, dir: &Path, origin: &str, requests: &AtomicUsize) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        };
        requests.fetch_add(1, Ordering::SeqCst);
        let head = String::from_utf8_lossy(&pending[..end]).into_owned();
        pending.drain(..end);
        let mut words = head.split_whitespace();
        let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
        let body = file_for(dir, target).and_then(|path| std::fs::read(path).ok());
        let (status, body) = match (method, body) {
            ("GET" | "HEAD", Some(body)) => ("200 OK", with_origin(body, origin)),
            ("GET" | "HEAD", None) => ("404 Not Found", b"not found\n".to_vec()),
            _ => ("405 Method Not Allowed", Vec::new()),
        };
        let header = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
            body.len()
        );
        let sent = stream.write_all(header.as_bytes()).and_then(|()| {
            if method == "HEAD" {
                Ok(())
            } else {
                stream.write_all(&body)
            }
        });
        if sent.is_err() {
            return;
        }
    }
}

/// The file a request path names inside `dir`, never outside it.
fn file_for(dir: &Path, target: &str) -> Option<PathBuf> {
    // A proxy may pass the absolute form on (RFC 9112 3.2.2).
    let target = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    let path = target.split(['?', '#']).next()?;
    let path = path
        .replace("%2f", "/")
        .replace("%2F", "/")
        .replace("%40", "@");
    // Decoded first, then only plain names: no root, no `..`, no dotfile.
    let relative = super::plain_relative(path.trim_start_matches('/')).filter(|p| {
        p.iter()
            .all(|name| !name.to_string_lossy().starts_with('.'))
    })?;
    // A directory answers with its `index` file (`/leftpad` and
    // `/leftpad/-/leftpad-1.0.0.tgz` side by side, as registries serve).
    let file = dir.join(relative);
    let file = if file.is_dir() {
        file.join("index")
    } else {
        file
    };
    // A symlink in the served directory does not lead out of it (`dir`
    // is canonical).
    let real = file.canonicalize().ok()?;
    (real.starts_with(dir) && real.is_file()).then_some(real)
}

fn with_origin(body: Vec<u8>, origin: &str) -> Vec<u8> {
    match String::from_utf8(body) {
        Ok(text) => text.replace("{{origin}}", origin).into_bytes(),
        Err(raw) => raw.into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only files under the served directory, however the path is spelled.
    #[test]
    fn requests_stay_inside_the_served_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pkg/-")).unwrap();
        std::fs::write(dir.path().join("pkg/index"), "{}").unwrap();
        std::fs::write(dir.path().join("pkg/-/pkg-1.tgz"), "t").unwrap();
        std::fs::write(dir.path().join(".secret"), "s").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("pkg/leak")).unwrap();
        let base = dir.path().canonicalize().unwrap();
        let served = |target: &str| file_for(&base, target);
        assert_eq!(served("/pkg"), Some(base.join("pkg/index")));
        assert_eq!(
            served("http://r.test:1/pkg/-/pkg-1.tgz?x=1"),
            Some(base.join("pkg/-/pkg-1.tgz"))
        );
        for escape in [
            "/%2Fetc/passwd",
            "/%2fproc/self/environ",
            "/../etc/passwd",
            "/pkg/../../x",
            "/.secret",
            "//etc/passwd",
            "/pkg/leak",
        ] {
            assert_eq!(served(escape), None, "{escape}");
        }
    }
}
