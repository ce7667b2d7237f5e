//! A project's own tools pinned by digest: `cordon tools add` downloads
//! through the network gate (from loopback servers started here, names
//! mapped to them with `--resolve`), keeps nothing unless the digest
//! matches, and a pinned tool whose bytes changed or went missing does not
//! run. Rules naming a tool's bytes (`tool = "sha256:..."`) follow those
//! bytes and no others.

use std::path::Path;

use cordon::digest::sha256_hex;

use crate::network::Server;
use crate::support::{Layout, Run, Wasi, cordon, probe, script};

/// The tool served and pinned: the probe guest (`probe args X` prints X).
fn tool_bytes() -> Vec<u8> {
    std::fs::read(probe(Wasi::P1)).unwrap()
}

/// `cordon tools add NAME URL --sha256 DIGEST --root ROOT`, with
/// good.test and other.test mapped to loopback, then `extra`.
fn add(l: &Layout, name: &str, url: &str, digest: &str, extra: &[&str]) -> Run {
    let mut cmd = cordon();
    cmd.args(["tools", "add", name, url, "--sha256", digest, "--root"])
        .arg(&l.root)
        .args([
            "--resolve",
            "good.test=127.0.0.1",
            "--resolve",
            "other.test=127.0.0.1",
        ])
        .args(extra);
    Run(cmd.output().unwrap())
}

/// The server's URL under the name good.test, and the allowlist that
/// grants it (the name, and the loopback address it resolves to).
fn served(server: &Server) -> (String, String) {
    let port = server.port();
    (
        format!("http://good.test:{port}/hello.wasm"),
        format!("--network=allow=good.test:{port},127.0.0.1:{port}"),
    )
}

fn one_line_error(run: &Run, saying: &str) {
    assert!(run.stderr().contains(saying), "{}", run.stderr());
    assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
}

#[test]
fn a_tool_added_by_digest_is_pinned_listed_and_runs() {
    let l = Layout::new();
    let bytes = tool_bytes();
    let digest = sha256_hex(&bytes);
    let server = Server::start("127.0.0.1:0", bytes.clone());
    let (url, allow) = served(&server);
    add(&l, "hello", &url, &digest.to_uppercase(), &[&allow]).expect_code(0);
    assert_eq!(
        std::fs::read(l.at(".cordon/tools/hello.wasm")).unwrap(),
        bytes
    );
    let pins = std::fs::read_to_string(l.at(".cordon/tools.toml")).unwrap();
    assert!(pins.contains(&digest) && pins.contains(&url), "{pins}");
    let run = l.cordon().args(["--", "hello", "args", "x"]).output();
    assert_eq!(run.expect_code(0).stdout(), "x\n");
    let listed = Run(cordon()
        .args(["tools", "--root"])
        .arg(&l.root)
        .output()
        .unwrap());
    let line = listed
        .expect_code(0)
        .stdout()
        .lines()
        .find(|line| line.starts_with("hello "))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("hello not listed:\n{}", listed.stdout()));
    assert!(line.contains(&format!("sha256:{digest}")), "{line}");
    assert!(line.contains(&url), "{line}");
}

#[test]
fn a_wrong_digest_keeps_nothing() {
    let l = Layout::new();
    let server = Server::start("127.0.0.1:0", tool_bytes());
    let (url, allow) = served(&server);
    let before = l.inside();
    let run = add(&l, "hello", &url, &"ab".repeat(32), &[&allow]);
    run.expect_code(125);
    one_line_error(&run, "nothing was kept");
    assert_eq!(server.hits(), 1);
    assert_eq!(l.inside(), before);
}

/// good.test resolves to 127.0.0.1: granting the name does not grant a
/// private address, which must be named itself.
#[test]
fn a_name_resolving_to_a_private_address_is_refused_unless_it_is_listed() {
    let l = Layout::new();
    let bytes = tool_bytes();
    let server = Server::start("127.0.0.1:0", bytes.clone());
    let (url, _) = served(&server);
    let before = l.inside();
    let only_the_name = format!("--network=allow=good.test:{}", server.port());
    let run = add(&l, "hello", &url, &sha256_hex(&bytes), &[&only_the_name]);
    run.expect_code(125);
    assert!(run.stderr().contains("loopback"), "{}", run.stderr());
    assert_eq!(server.hits(), 0);
    assert_eq!(l.inside(), before);
}

#[test]
fn hosts_the_allowlist_does_not_name_are_never_reached() {
    let l = Layout::new();
    let bytes = tool_bytes();
    let digest = sha256_hex(&bytes);
    let server = Server::start("127.0.0.1:0", bytes.clone());
    let (url, _) = served(&server);
    let before = l.inside();
    // No --network at all: the download is refused before any connection,
    // saying what to grant.
    let run = add(&l, "hello", &url, &digest, &[]);
    run.expect_code(125);
    one_line_error(&run, "--network allow=good.test");
    // Another host listed.
    let other = format!("--network=allow=other.test:{0},127.0.0.1:1", server.port());
    add(&l, "hello", &url, &digest, &[&other]).expect_code(125);
    // A listed host redirecting to one that is not.
    let redirect = Server::redirecting(format!("http://other.test:{}/hello.wasm", server.port()));
    let first = format!("http://good.test:{}/hello.wasm", redirect.port());
    let only_first = format!(
        "--network=allow=good.test:{0},127.0.0.1:{0}",
        redirect.port()
    );
    let run = add(&l, "hello", &first, &digest, &[&only_first]);
    run.expect_code(125);
    assert!(run.stderr().contains("other.test"), "{}", run.stderr());
    assert_eq!(redirect.hits(), 1);
    assert_eq!(server.hits(), 0);
    assert_eq!(l.inside(), before);
}

/// Pins `bytes` as the project tool `hello` as `tools add` would leave it.
fn pinned(l: &Layout, bytes: &[u8]) {
    let server = Server::start("127.0.0.1:0", bytes.to_vec());
    let (url, allow) = served(&server);
    add(l, "hello", &url, &sha256_hex(bytes), &[&allow]).expect_code(0);
}

/// `bytes` as another program: a custom section appended.
fn other_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut changed = bytes.to_vec();
    changed.extend_from_slice(b"\x00\x04\x03abc");
    changed
}

#[test]
fn a_pinned_tool_whose_bytes_changed_or_went_missing_does_not_run() {
    let l = Layout::new();
    let bytes = tool_bytes();
    pinned(&l, &bytes);
    let tool = l.at(".cordon/tools/hello.wasm");
    std::fs::write(&tool, other_bytes(&bytes)).unwrap();
    let before = l.inside();
    let run = l
        .cordon()
        .args(["--", "hello", "write", "planted.txt", "x"])
        .output();
    run.expect_code(127);
    one_line_error(&run, "is not the tool");
    assert_eq!(l.inside(), before);
    std::fs::remove_file(&tool).unwrap();
    let run = l
        .cordon()
        .args(["--", "hello", "write", "planted.txt", "x"])
        .output();
    run.expect_code(127);
    one_line_error(&run, "is missing");
    assert!(!l.at("planted.txt").exists());
}

fn rules_file(dir: &Path, text: &str) -> String {
    let path = dir.join("rules.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Under `--approval untrusted` a project's tool asks; a rule naming its
/// bytes allows it, and stops allowing it when the bytes change.
#[test]
fn a_rule_naming_a_tools_digest_follows_those_bytes_only() {
    let l = Layout::new();
    let bytes = tool_bytes();
    std::fs::create_dir_all(l.at(".cordon/tools")).unwrap();
    let tool = l.at(".cordon/tools/hello.wasm");
    std::fs::write(&tool, &bytes).unwrap();
    let rules = rules_file(
        &l.base,
        &format!(
            "[[rule]]\ntool = \"sha256:{}\"\ndecision = \"allow\"\n",
            sha256_hex(&bytes)
        ),
    );
    let untrusted = || {
        l.cordon()
            .args(["--approval", "untrusted", "--rules", &rules])
    };
    let run = untrusted()
        .args(["--", "hello", "write", "made.txt", "x"])
        .output();
    run.expect_code(0);
    assert_eq!(std::fs::read_to_string(l.at("made.txt")).unwrap(), "x");
    std::fs::write(&tool, other_bytes(&bytes)).unwrap();
    let run = untrusted()
        .args(["--", "hello", "write", "planted.txt", "x"])
        .output();
    run.expect_code(126);
    assert!(!l.at("planted.txt").exists());
}

/// A `[[network]]` rule naming a program's bytes lets that program
/// connect, and not the same program with other bytes.
#[test]
fn a_network_rule_naming_a_digest_follows_those_bytes_only() {
    let l = Layout::new();
    // Sockets are WASIp2's.
    let bytes = std::fs::read(probe(Wasi::P2)).unwrap();
    let server = Server::start("127.0.0.1:0", "hello");
    let target = format!("127.0.0.1:{}", server.port());
    let rules = rules_file(
        &l.base,
        &format!(
            "[[network]]\nhost = \"{target}\"\ntool = \"sha256:{}\"\ndecision = \"allow\"\n",
            sha256_hex(&bytes)
        ),
    );
    let same = l.base.join("same.wasm");
    let other = l.base.join("other.wasm");
    std::fs::write(&same, &bytes).unwrap();
    std::fs::write(&other, other_bytes(&bytes)).unwrap();
    let connect = |program: &Path| {
        l.cordon()
            .args([
                "--approval",
                "never",
                "--network",
                "allow=unrelated.test",
                "--rules",
                &rules,
            ])
            .wasm(program, &["connect", &target])
    };
    let run = connect(&same);
    assert_eq!(run.expect_code(0).stdout(), "connected\n");
    let run = connect(&other);
    assert_ne!(run.code(), 0);
    assert!(
        run.stderr().contains("connection refused"),
        "{}",
        run.stderr()
    );
    assert_eq!(server.hits(), 1);
}

/// A pinned tool named by its path (absolute, relative, or through
/// `--tool`) is the same file: changed bytes do not run that way either.
#[test]
fn a_pinned_tool_named_by_path_runs_only_as_pinned() {
    let l = Layout::new();
    let bytes = tool_bytes();
    pinned(&l, &bytes);
    let tool = l.at(".cordon/tools/hello.wasm");
    std::fs::write(&tool, other_bytes(&bytes)).unwrap();
    let before = l.inside();
    let mapping = format!("hi={}", tool.display());
    let by_path = l.cordon().args(["--", tool.to_str().unwrap()]);
    let by_mapping = l.cordon().args(["--tool", &mapping, "--", "hi"]);
    for cordon in [by_path, by_mapping] {
        let run = cordon.args(["write", "planted.txt", "x"]).output();
        run.expect_code(127);
        assert!(run.stderr().contains("is not the tool"), "{}", run.stderr());
    }
    assert_eq!(l.inside(), before);
}

/// An approver's edit names another program: it is judged as that
/// program, not with the first one's bytes (a rule allowing those bytes
/// does not allow the edit) or engine.
#[test]
fn an_edit_is_not_judged_by_the_first_programs_bytes() {
    let l = Layout::new();
    let bytes = tool_bytes();
    std::fs::create_dir_all(l.at(".cordon/tools")).unwrap();
    std::fs::write(l.at(".cordon/tools/hello.wasm"), &bytes).unwrap();
    std::fs::write(l.at(".cordon/tools/other.wasm"), other_bytes(&bytes)).unwrap();
    let rules = rules_file(
        &l.base,
        &format!(
            "[[rule]]\ntool = \"sha256:{}\"\ndecision = \"allow\"\n\
             [[rule]]\nprefix = [\"hello\", \"write\"]\ndecision = \"prompt\"\n",
            sha256_hex(&bytes)
        ),
    );
    let before = l.inside();
    let run = l
        .cordon()
        .args(["--approval", "untrusted", "--rules", &rules])
        .args(["--approver", &script("edit other write planted.txt x\n")])
        .args(["--", "hello", "write", "planted.txt", "x"])
        .output();
    run.expect_code(126);
    assert!(run.stderr().contains("project's own"), "{}", run.stderr());
    assert_eq!(l.inside(), before);
}

/// The pins come with the project: a broken pins file, or a pin on a
/// name a system program has, does not take that program away.
#[test]
fn pins_do_not_stand_in_for_system_programs() {
    let l = Layout::new();
    std::fs::create_dir_all(l.at(".cordon")).unwrap();
    let system_env = |l: &Layout| l.cordon().args(["--engine", "auto", "--", "env"]).output();
    std::fs::write(
        l.at(".cordon/tools.toml"),
        format!(
            "[tools.env]\nurl = \"http://x\"\nsha256 = \"{}\"\n",
            "0".repeat(64)
        ),
    )
    .unwrap();
    system_env(&l).expect_code(0);
    std::fs::write(l.at(".cordon/tools.toml"), "garbage = [").unwrap();
    system_env(&l).expect_code(0);
}
