//! Network grants end to end: `--network allow=`, for WASI sockets and for
//! native commands through the host's proxy, with runtime questions and
//! the taint guard. Only loopback servers started here are ever reached;
//! names are mapped to them with `--resolve`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use crate::support::{Layout, Run, Wasi, audit_lines, events, script, skip};

/// A loopback HTTP server answering every request with `body`, counting
/// the connections it accepted, one after the other.
pub(crate) struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    /// A message for each [`SYNC`] connection the server has reached.
    synced: Mutex<mpsc::Receiver<()>>,
}

/// What [`Server::hits`] sends on a connection of its own.
const SYNC: &[u8] = b"SYNC\r\n\r\n";

impl Server {
    pub(crate) fn start(bind: &str, body: impl Into<Vec<u8>>) -> Server {
        Server::on(TcpListener::bind(bind).unwrap(), body)
    }

    /// A server on a socket already bound.
    fn on(listener: TcpListener, body: impl Into<Vec<u8>>) -> Server {
        Server::answering(listener, "200 OK", String::new(), body.into())
    }

    /// A server answering `301` to `location`.
    pub(crate) fn redirecting(location: String) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Server::answering(listener, "301 Moved Permanently", location, Vec::new())
    }

    fn answering(
        listener: TcpListener,
        status: &'static str,
        location: String,
        body: Vec<u8>,
    ) -> Server {
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        let (reached, synced) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                if head == SYNC {
                    let _ = reached.send(());
                    continue;
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let location = match location.as_str() {
                    "" => String::new(),
                    to => format!("Location: {to}\r\n"),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\n{location}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .and_then(|()| stream.write_all(&body));
            }
        });
        Server {
            addr,
            hits,
            synced: Mutex::new(synced),
        }
    }

    pub(crate) fn port(&self) -> String {
        self.addr.port().to_string()
    }

    /// The connections made so far. A client may be gone before the
    /// server reached its connection: this one of its own comes after
    /// them (the kernel hands connections over in the order they were
    /// made), so once the server reaches it, it has counted them all.
    pub(crate) fn hits(&self) -> usize {
        let mut sync = std::net::TcpStream::connect(self.addr).unwrap();
        sync.write_all(SYNC).unwrap();
        self.synced.lock().unwrap().recv().unwrap();
        self.hits.load(Ordering::SeqCst)
    }
}

/// `--network allow=LIST --resolve good.test=127.0.0.1` (and the other
/// test names), then `args`.
fn gated(l: &Layout, list: &str) -> crate::support::Cordon {
    l.cordon().args([
        "--network",
        &format!("allow={list}"),
        "--resolve",
        "good.test=127.0.0.1",
        "--resolve",
        "other.test=127.0.0.1",
        "--resolve",
        "a.example.test=127.0.0.1",
        "--resolve",
        "example.test.evil=127.0.0.1",
        "--resolve",
        "example.test=127.0.0.1",
    ])
}

fn refused_saying(run: &Run, why: &str) {
    assert!(
        run.stderr().contains("connection refused") && run.stderr().contains(why),
        "expected a refusal saying {why:?}\nstdout: {}\nstderr: {}",
        run.stdout(),
        run.stderr()
    );
}

#[test]
fn wasi_reaches_allowed_hosts_only() {
    let l = Layout::new();
    let server = Server::start("127.0.0.1:0", "hello\n");
    let port = server.port();
    let both = format!("good.test:{port},127.0.0.1:{port}");
    let connect = |list: &str, target: &str| {
        gated(&l, list).probe(Wasi::P2, &["connect", &format!("{target}:{port}")])
    };

    // The allowed name, resolved by the host, reaches the server.
    let run = connect(&both, "good.test");
    assert_eq!(run.expect_code(0).stdout(), "connected\n");
    assert_eq!(server.hits(), 1);

    // Another name (even one resolving to the same address) is refused.
    refused_saying(connect(&both, "other.test").expect_refused(), "other.test");
    // A granted name that resolves to loopback is refused unless the
    // address itself is on the list.
    let only_name = format!("good.test:{port}");
    refused_saying(
        connect(&only_name, "good.test").expect_refused(),
        "resolves only to 127.0.0.1 (loopback)",
    );
    // Wildcards cover subdomains only.
    let wildcard = format!("*.example.test,127.0.0.1:{port}");
    assert_eq!(
        connect(&wildcard, "a.example.test").expect_code(0).stdout(),
        "connected\n"
    );
    for other in ["example.test", "example.test.evil"] {
        refused_saying(connect(&wildcard, other).expect_refused(), other);
    }
    // Nothing is allowed by an empty list, not even addresses.
    connect("", "127.0.0.1").expect_refused();
    // Network off: no sockets at all.
    l.cordon()
        .probe(Wasi::P2, &["connect", &format!("127.0.0.1:{port}")])
        .expect_refused();
    assert_eq!(server.hits(), 2, "only the two allowed connections arrived");
}

#[test]
fn wasi_ports_addresses_and_names() {
    let l = Layout::new();
    let server = Server::start("127.0.0.1:0", "a\n");
    let elsewhere = Server::start("127.0.0.1:0", "b\n");
    let list = format!("good.test:{},127.0.0.1:{}", server.port(), server.port());
    // The port is part of the grant: the same host on another port is not.
    let run = gated(&l, &list).probe(
        Wasi::P2,
        &["connect", &format!("good.test:{}", elsewhere.port())],
    );
    refused_saying(run.expect_refused(), &elsewhere.port());
    assert_eq!(elsewhere.hits(), 0);
    // A trailing dot names the same host; the lookup itself is the host's.
    let run = gated(&l, &list).probe(Wasi::P2, &["lookup", "good.test."]);
    assert_eq!(run.expect_code(0).stdout(), "[127.0.0.1:80]\n");
    let run = gated(&l, &list).probe(Wasi::P2, &["lookup", "not-allowed.test"]);
    refused_saying(run.expect_refused(), "not-allowed.test");
    // An IPv6 literal, allowed as an address with its port.
    if let Ok(listener) = TcpListener::bind("[::1]:0") {
        let v6 = Server::on(listener, "six\n");
        let port = v6.port();
        let run = l
            .cordon()
            .args(["--network", &format!("allow=[::1]:{port}")])
            .probe(Wasi::P2, &["connect", &format!("[::1]:{port}")]);
        assert_eq!(run.expect_code(0).stdout(), "connected\n");
        assert_eq!(v6.hits(), 1);
    } else {
        skip("no ::1");
    }
}

#[test]
fn a_connection_off_the_list_asks_the_person() {
    let l = Layout::new();
    let server = Server::start("127.0.0.1:0", "x\n");
    let port = server.port();
    let audit = l.base.join("audit.jsonl");
    let run = |answers: &str| {
        gated(&l, &format!("127.0.0.1:{port}"))
            .args(["--approver", &script(answers)])
            .args(["--audit", audit.to_str().unwrap()])
            .probe(Wasi::P2, &["connect", &format!("other.test:{port}")])
    };
    refused_saying(run("deny not that one\n").expect_refused(), "not that one");
    assert_eq!(server.hits(), 0);
    assert_eq!(run("once\n").expect_code(0).stdout(), "connected\n");
    assert_eq!(server.hits(), 1);
    let lines = audit_lines(&audit);
    let decisions: Vec<_> = events(&lines, "connect")
        .iter()
        .map(|e| (e["host"].as_str().unwrap(), e["decision"].as_str().unwrap()))
        .collect();
    assert!(
        decisions.contains(&("other.test", "denied")),
        "{decisions:?}"
    );
    assert!(
        decisions.contains(&("other.test", "approved")),
        "{decisions:?}"
    );
    // --approval never: refused without asking.
    let never = gated(&l, &format!("127.0.0.1:{port}"))
        .args(["--approval", "never", "--approver", &script("once\n")])
        .probe(Wasi::P2, &["connect", &format!("other.test:{port}")]);
    refused_saying(never.expect_refused(), "--approval never");
    assert_eq!(server.hits(), 1);
}

/// "always" for a host writes a `[[network]]` rule; the next session
/// connects unasked.
#[test]
fn always_for_a_host_writes_a_network_rule() {
    let l = Layout::new();
    let server = Server::start("127.0.0.1:0", "x\n");
    let port = server.port();
    let config = l.base.join("config");
    let connect = |answers: &str| {
        let mut c = gated(&l, &format!("127.0.0.1:{port}")).args(["--approver", &script(answers)]);
        c.0.env("XDG_CONFIG_HOME", &config);
        c.probe(Wasi::P2, &["connect", &format!("other.test:{port}")])
    };
    connect("always\n").expect_code(0);
    let rules = std::fs::read_to_string(config.join("cordon/rules.toml")).unwrap();
    assert!(
        rules.contains("[[network]]\nhost = \"other.test\"\ndecision = \"allow\""),
        "{rules}"
    );
    connect("deny\n").expect_code(0);
    assert_eq!(server.hits(), 2);
}

/// Once a secret was granted, even a listed host needs a person, and the
/// audit log says why.
#[test]
fn after_a_secret_every_network_grant_asks() {
    let l = Layout::new();
    std::fs::write(l.at(".env"), "TOKEN=1\n").unwrap();
    let server = Server::start("127.0.0.1:0", "x\n");
    let port = server.port();
    let audit = l.base.join("audit.jsonl");
    let list = format!("good.test:{port},127.0.0.1:{port}");
    let run = |answers: &str| {
        gated(&l, &list)
            .args(["--allow-secret", ".env"])
            .args(["--approver", &script(answers)])
            .args(["--audit", audit.to_str().unwrap()])
            .probe(Wasi::P2, &["connect", &format!("good.test:{port}")])
    };
    refused_saying(
        run("deny\n").expect_refused(),
        "this session read a secret (a secret was granted: --allow-secret .env)",
    );
    assert_eq!(server.hits(), 0);
    run("once\n").expect_code(0);
    assert_eq!(server.hits(), 1);
    let lines = audit_lines(&audit);
    assert!(
        events(&lines, "taint")[0]["why"]
            .as_str()
            .unwrap()
            .contains("--allow-secret .env")
    );
    // Without the secret the list alone decides, unasked.
    gated(&l, &list)
        .args(["--approver", &script("deny\n")])
        .probe(Wasi::P2, &["connect", &format!("good.test:{port}")])
        .expect_code(0);
    assert_eq!(server.hits(), 2);
}

/// `--escalate network=HOST` asks, and grants that host to that command.
#[test]
fn an_escalation_grants_one_host() {
    let l = Layout::new();
    let server = Server::start("127.0.0.1:0", "x\n");
    let port = server.port();
    let escalate = |answers: &str, host: &str| {
        gated(&l, &format!("127.0.0.1:{port}"))
            .args(["--approver", &script(answers)])
            .args(["--escalate", &format!("network=good.test:{port}")])
            .probe(Wasi::P2, &["connect", &format!("{host}:{port}")])
    };
    escalate("deny\n", "good.test").expect_code(126);
    assert_eq!(server.hits(), 0);
    assert_eq!(
        escalate("once\n", "good.test").expect_code(0).stdout(),
        "connected\n"
    );
    // The grant names one host: another one is still a question (denied).
    refused_saying(
        escalate("once\n", "other.test").expect_refused(),
        "other.test",
    );
    assert_eq!(server.hits(), 1);
}

/// The built-in `fetch`: wasi:http through the same gate, no native curl.
#[test]
fn fetch_downloads_from_allowed_hosts_only() {
    let l = Layout::new();
    let server = Server::start("127.0.0.1:0", "package tarball\n");
    let port = server.port();
    let list = format!("good.test:{port},127.0.0.1:{port}");
    let fetch =
        |list: &str, args: &[&str]| gated(&l, list).args(["--", "fetch"]).args(args).output();
    let url = format!("http://good.test:{port}/pkg.tgz");
    assert_eq!(
        fetch(&list, &[&url]).expect_code(0).stdout(),
        "package tarball\n"
    );
    // -o writes the file in the root, whole.
    fetch(&list, &["-o", "pkg.tgz", &url]).expect_code(0);
    assert_eq!(
        std::fs::read_to_string(l.at("pkg.tgz")).unwrap(),
        "package tarball\n"
    );
    assert!(!l.at("pkg.tgz.fetch-partial").exists());
    assert_eq!(server.hits(), 2);
    // Another host, a granted name resolving to loopback, and no network
    // at all are refused before any connection.
    let other = fetch(&list, &[&format!("http://other.test:{port}/")]);
    refused_saying(other.expect_code(1), "other.test");
    let only_name = fetch(&format!("good.test:{port}"), &[&url]);
    refused_saying(only_name.expect_code(1), "loopback");
    let off = l.cordon().args(["--", "fetch", &url]).output();
    refused_saying(off.expect_code(1), "the network is off");
    assert_eq!(server.hits(), 2);
    // https means TLS, verified: a plain server behind an allowed name
    // fails the handshake, never falls back to plaintext.
    let tls = fetch(&list, &[&format!("https://good.test:{port}/")]);
    tls.expect_code(1);
    assert_eq!(tls.stdout(), "");
    assert_eq!(
        server.hits(),
        3,
        "the handshake reached the server and failed"
    );
    // -L follows redirects, each one decided again: to an allowed host,
    // a relative one (to itself, until the limit), a refused host.
    let hop = Server::redirecting(format!("http://good.test:{port}/final"));
    let hop_list = format!("good.test,127.0.0.1:{port},127.0.0.1:{}", hop.port());
    let hop_url = format!("http://good.test:{}/start", hop.port());
    let followed = fetch(&hop_list, &["-L", &hop_url]);
    assert_eq!(followed.expect_code(0).stdout(), "package tarball\n");
    let unfollowed = fetch(&hop_list, &[&hop_url]);
    assert_eq!(unfollowed.expect_code(0).stdout(), "");
    let looping = Server::redirecting("/again".into());
    let loop_list = format!("good.test,127.0.0.1:{}", looping.port());
    let looped = fetch(
        &loop_list,
        &["-L", &format!("http://good.test:{}/", looping.port())],
    );
    assert!(
        looped
            .expect_code(1)
            .stderr()
            .contains("more than 10 redirects")
    );
    assert_eq!(looping.hits(), 11);
    let away = Server::redirecting(format!("http://other.test:{port}/"));
    let away_list = format!("good.test,127.0.0.1:{}", away.port());
    let refused = fetch(
        &away_list,
        &["-L", &format!("http://good.test:{}/", away.port())],
    );
    refused_saying(refused.expect_code(1), "other.test");
    assert_eq!(server.hits(), 4);
    // A question, answered once.
    let asked = gated(&l, &format!("127.0.0.1:{port}"))
        .args([
            "--approver",
            &script("once\n"),
            "--",
            "fetch",
            &format!("http://other.test:{port}/"),
        ])
        .output();
    assert_eq!(asked.expect_code(0).stdout(), "package tarball\n");
}

#[cfg(target_os = "linux")]
mod native {
    use super::*;
    use crate::support::skip_without;

    #[test]
    fn curl_goes_through_the_proxy_and_nowhere_else() {
        if skip_without(&["curl"]) {
            return;
        }
        let l = Layout::new();
        let server = Server::start("127.0.0.1:0", "through the proxy\n");
        let port = server.port();
        let list = format!("good.test:{port},127.0.0.1:{port}");
        let curl = |extra: &[&str], url: &str| {
            gated(&l, &list)
                .args(["--", "curl", "-sS", "--max-time", "10"])
                .args(extra)
                .args([url])
                .output()
        };
        let url = format!("http://good.test:{port}/");
        // Plain HTTP (absolute-form), a CONNECT tunnel, and SOCKS5.
        for extra in [&[][..], &["-p"], &["--proxy", "socks5h://127.0.0.1:3128"]] {
            let run = curl(extra, &url);
            assert_eq!(
                run.expect_code(0).stdout(),
                "through the proxy\n",
                "{extra:?}"
            );
        }
        assert_eq!(server.hits(), 3);
        // Hosts off the list: 403 from the proxy, SOCKS refusal; nothing
        // reaches the server.
        let run = curl(&["-f"], &format!("http://other.test:{port}/"));
        assert_ne!(run.code(), 0);
        refused_saying(&run, "other.test");
        let run = curl(
            &["--proxy", "socks5h://127.0.0.1:3128"],
            &format!("http://other.test:{port}/"),
        );
        assert_ne!(run.code(), 0);
        assert_eq!(server.hits(), 3);
    }

    /// Two plain-HTTP requests to two hosts from one client: each reaches
    /// its own host (a proxy connection carries one request, then closes).
    #[test]
    fn each_proxied_request_reaches_its_own_host() {
        if skip_without(&["curl"]) {
            return;
        }
        let l = Layout::new();
        let first = Server::start("127.0.0.1:0", "first\n");
        let second = Server::start("127.0.0.1:0", "second\n");
        let list = format!(
            "good.test,other.test,127.0.0.1:{},127.0.0.1:{}",
            first.port(),
            second.port()
        );
        let run = gated(&l, &list)
            .args(["--", "curl", "-sS", "--max-time", "10"])
            .args([
                format!("http://good.test:{}/", first.port()),
                format!("http://other.test:{}/", second.port()),
            ])
            .output();
        assert_eq!(run.expect_code(0).stdout(), "first\nsecond\n");
        assert_eq!((first.hits(), second.hits()), (1, 1));
    }

    /// A native stage of a pipeline joined in the host (a threaded host:
    /// the helper is re-executed and gets the proxy channel by number).
    #[test]
    fn a_native_pipeline_stage_uses_the_proxy() {
        if skip_without(&["curl"]) {
            return;
        }
        let l = Layout::new();
        let server = Server::start("127.0.0.1:0", "counted bytes\n");
        let port = server.port();
        let run = gated(&l, &format!("good.test:{port},127.0.0.1:{port}"))
            .args([
                "-c",
                &format!("curl -sS --max-time 10 http://good.test:{port}/ | wc -c"),
            ])
            .output();
        assert_eq!(run.expect_code(0).stdout().trim(), "14");
        assert_eq!(server.hits(), 1);
    }

    /// The proxy is the only way out: connecting directly fails even while
    /// it runs, by name or by address, TCP or UDP.
    #[test]
    fn direct_connections_are_impossible_with_the_proxy_running() {
        if skip_without(&["curl", "python3"]) {
            return;
        }
        let l = Layout::new();
        let server = Server::start("127.0.0.1:0", "x\n");
        let port = server.port();
        let list = format!("good.test:{port},127.0.0.1:{port}");
        let direct = gated(&l, &list)
            .args(["--", "curl", "-sS", "--noproxy", "*", "--max-time", "5"])
            .args([&format!("http://127.0.0.1:{port}/")])
            .output();
        assert_ne!(direct.code(), 0, "{}", direct.stdout());
        let script = format!(
            "import socket\n\
             for family, addr in [(socket.AF_INET, ('127.0.0.1', {port})), \
             (socket.AF_INET6, ('::1', {port}))]:\n\
             \ttry:\n\
             \t\ts = socket.socket(family); s.settimeout(3); s.connect(addr); print('connected')\n\
             \texcept OSError as e:\n\
             \t\tprint('refused', e.errno)\n\
             try:\n\
             \tsocket.getaddrinfo('good.test', 80); print('resolved')\n\
             except OSError:\n\
             \tprint('no dns')\n"
        );
        let run = gated(&l, &list)
            .args(["--", "python3", "-c", &script])
            .output();
        let out = run.expect_code(0).stdout();
        assert!(
            !out.contains("connected") && !out.contains("resolved"),
            "{out}"
        );
        assert_eq!(server.hits(), 0);
    }

    /// A SOCKS5 request naming a host with a NUL byte is refused, not cut
    /// at the NUL.
    #[test]
    fn a_name_with_a_nul_byte_is_refused() {
        if skip_without(&["python3"]) {
            return;
        }
        let l = Layout::new();
        let server = Server::start("127.0.0.1:0", "x\n");
        let port: u16 = server.addr.port();
        let script = format!(
            "import socket\n\
             s = socket.create_connection(('127.0.0.1', 3128))\n\
             s.sendall(b'\\x05\\x01\\x00'); s.recv(2)\n\
             name = b'good.test\\x00.evil'\n\
             s.sendall(b'\\x05\\x01\\x00\\x03' + bytes([len(name)]) + name + ({port}).to_bytes(2, 'big'))\n\
             print(s.recv(10)[1])\n"
        );
        let run = gated(&l, &format!("good.test:{port},127.0.0.1:{port}"))
            .args(["--", "python3", "-c", &script])
            .output();
        assert_eq!(
            run.expect_code(0).stdout(),
            "2\n",
            "SOCKS5 'not allowed by ruleset'"
        );
        refused_saying(&run, "not a host name");
        assert_eq!(server.hits(), 0);
    }

    #[test]
    fn without_namespaces_allow_is_refused() {
        let l = Layout::new();
        let run = gated(&l, "good.test")
            .args(["--no-namespaces", "--engine", "native", "--", "true"])
            .output();
        run.expect_code(126);
        assert!(
            run.stderr().contains("network namespaces"),
            "{}",
            run.stderr()
        );
    }

    /// on-failure: a refused connection fails the command; the person is
    /// then asked to retry with exactly that host.
    #[test]
    fn on_failure_offers_the_refused_host() {
        if skip_without(&["curl"]) {
            return;
        }
        let l = Layout::new();
        let server = Server::start("127.0.0.1:0", "second time\n");
        let port = server.port();
        let audit = l.base.join("audit.jsonl");
        let run = gated(&l, &format!("127.0.0.1:{port}"))
            .args(["--approval", "on-failure", "--approver", &script("once\n")])
            .args(["--audit", audit.to_str().unwrap()])
            .args(["--", "curl", "-sSf", "--max-time", "10"])
            .args([&format!("http://other.test:{port}/")])
            .output();
        assert_eq!(run.expect_code(0).stdout(), "second time\n");
        assert!(
            run.stderr()
                .contains(&format!("asking to retry with network=other.test:{port}")),
            "{}",
            run.stderr()
        );
        assert_eq!(server.hits(), 1);
        let lines = audit_lines(&audit);
        let requests = events(&lines, "request");
        assert_eq!(
            requests[1]["escalation"],
            format!("network=other.test:{port}")
        );
    }

    /// on-failure, a package manager's first fetch: the download was
    /// refused (a host not on the list) and so was the write into its cache
    /// outside the root, in a directory not made yet. The person is asked
    /// once, for exactly those two grants together (not `unsandboxed`),
    /// and the retry with them succeeds.
    #[test]
    fn on_failure_offers_every_missing_grant_together() {
        if skip_without(&["curl"]) {
            return;
        }
        let l = Layout::new();
        let server = Server::start("127.0.0.1:0", "crate\n");
        let port = server.port();
        let home = l.base.join("outside/cargo-home");
        std::fs::create_dir(&home).unwrap();
        let audit = l.base.join("audit.jsonl");
        let line = format!(
            "curl -sSf --max-time 10 -o fetched.txt http://other.test:{port}/; \
             mkdir -p {0}/registry/index && cp fetched.txt {0}/registry/index/",
            home.display()
        );
        let run = gated(&l, &format!("127.0.0.1:{port}"))
            .args(["--approval", "on-failure", "--approver", &script("once\n")])
            .args(["--audit", audit.to_str().unwrap(), "--engine", "native"])
            .args(["--", "sh", "-c", &line])
            .output();
        run.expect_code(0);
        let grant = format!("network=other.test:{port} and writable={}", home.display());
        assert!(
            run.stderr()
                .contains(&format!("asking to retry with {grant}")),
            "{}",
            run.stderr()
        );
        let copied = home.join("registry/index/fetched.txt");
        assert_eq!(std::fs::read_to_string(copied).unwrap(), "crate\n");
        let lines = audit_lines(&audit);
        let requests = events(&lines, "request");
        assert_eq!(requests.len(), 2, "{requests:?}");
        assert_eq!(requests[1]["escalation"], grant);
    }
}

/// `fetch` trusts the system's trust store as curl does (SSL_CERT_FILE
/// here), not only its built-in roots: behind a TLS-intercepting proxy
/// whose CA the machine trusts, it works; a CA the store does not hold is
/// still refused.
#[test]
fn fetch_trusts_the_systems_trust_store() {
    use crate::support::skip_without;
    use std::process::{Command, Stdio};
    if skip_without(&["openssl", "python3"]) {
        return;
    }
    let l = Layout::new();
    let dir = l.base.join("outside");
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=good.test",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:good.test\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);
    std::fs::create_dir(dir.join("www")).unwrap();
    std::fs::write(dir.join("www/f"), "over tls\n").unwrap();
    let serve = "import http.server, ssl, sys\n\
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain('server.pem', 'server.key')\n\
        handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory='www')\n\
        server = http.server.HTTPServer(('127.0.0.1', 0), handler)\n\
        server.socket = ctx.wrap_socket(server.socket, server_side=True)\n\
        print(server.server_address[1], flush=True); server.serve_forever()\n";
    let mut server = Command::new("python3")
        .args(["-c", serve])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut port,
    )
    .unwrap();
    let port = port.trim().to_string();
    let url = format!("https://good.test:{port}/f");
    let fetch = |ca: Option<&std::path::Path>| {
        let mut cordon =
            gated(&l, &format!("good.test:{port},127.0.0.1:{port}")).args(["--", "fetch", &url]);
        match ca {
            Some(ca) => cordon.0.env("SSL_CERT_FILE", ca),
            None => cordon.0.env_remove("SSL_CERT_FILE"),
        };
        cordon.output()
    };
    let trusted = fetch(Some(&dir.join("ca.pem")));
    let untrusted = fetch(None);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(trusted.expect_code(0).stdout(), "over tls\n");
    untrusted.expect_code(1);
    assert_eq!(untrusted.stdout(), "");
}
