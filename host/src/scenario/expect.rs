//! Checking a step's observations: against what the scenario expects, and
//! against the golden transcript. Either way, the first difference, in one
//! line or a short diff.

use std::collections::BTreeMap;

use super::spec::Expect;
use super::step::{Asked, Observed};
use crate::digest::hex;

/// The first way `observed` differs from `expect`.
pub fn check(expect: &Expect, observed: &Observed) -> Result<(), String> {
    same("exit code", &expect.exit, &observed.exit)?;
    same("decision", &expect.decision, &observed.decision)?;
    let asked: Vec<String> = observed.asked.iter().map(Asked::shown).collect();
    same("asked", &expect.asked, &asked)?;
    text(
        "stdout",
        &observed.stdout,
        [&expect.stdout, &expect.stdout_regex, &expect.stdout_sha256],
    )?;
    text(
        "stderr",
        &observed.stderr,
        [&expect.stderr, &expect.stderr_regex, &expect.stderr_sha256],
    )?;
    paths("created", &expect.created, observed.created.keys())?;
    paths("modified", &expect.modified, observed.modified.keys())?;
    paths("removed", &expect.removed, observed.removed.iter())?;
    for (path, want) in &expect.sha256 {
        let got = observed.files.get(path).map_or("(absent)", String::as_str);
        if got != want {
            return Err(format!("sha256 of {path}: expected {want}, got {got}"));
        }
    }
    same("violations", &expect.violations, &observed.violations)?;
    for (server, want) in &expect.requests {
        let Some(got) = observed.requests.get(server) else {
            return Err(format!("requests: no server named {server}"));
        };
        if got != want {
            return Err(format!("requests to {server}: expected {want}, got {got}"));
        }
    }
    Ok(())
}

fn same<T: PartialEq + std::fmt::Debug>(
    what: &str,
    want: &Option<T>,
    got: &T,
) -> Result<(), String> {
    match want {
        Some(want) if want != got => Err(format!("{what}: expected {want:?}, got {got:?}")),
        _ => Ok(()),
    }
}

fn paths<'a>(
    what: &str,
    want: &Option<Vec<String>>,
    got: impl Iterator<Item = &'a String>,
) -> Result<(), String> {
    let Some(want) = want else { return Ok(()) };
    let mut want = want.clone();
    want.sort();
    let got: Vec<String> = got.cloned().collect();
    if want != got {
        return Err(format!("{what}: expected {want:?}, got {got:?}"));
    }
    Ok(())
}

/// `[exact, regex, sha256]` expectations on one stream.
fn text(what: &str, got: &str, [exact, regex, sha256]: [&Option<String>; 3]) -> Result<(), String> {
    if let Some(want) = exact
        && want != got
    {
        return Err(format!("{what} differs:\n{}", first_difference(want, got)));
    }
    if let Some(pattern) = regex {
        let regex = regex::Regex::new(pattern).map_err(|e| format!("{what}_regex: {e}"))?;
        if !regex.is_match(got) {
            return Err(format!("{what} does not match /{pattern}/: {got:?}"));
        }
    }
    if let Some(want) = sha256 {
        let digest = hex(&<sha2::Sha256 as sha2::Digest>::digest(got.as_bytes()));
        if *want != digest {
            return Err(format!("{what} sha256: expected {want}, got {digest}"));
        }
    }
    Ok(())
}

/// The first differing line of two texts, as a two-line diff.
pub fn first_difference(want: &str, got: &str) -> String {
    let (want_lines, got_lines): (Vec<&str>, Vec<&str>) = (
        want.split_inclusive('\n').collect(),
        got.split_inclusive('\n').collect(),
    );
    let line = want_lines
        .iter()
        .zip(&got_lines)
        .position(|(a, b)| a != b)
        .unwrap_or(want_lines.len().min(got_lines.len()));
    let show = |lines: &[&str]| {
        lines
            .get(line)
            .map_or("(end)".to_string(), |l| format!("{l:?}"))
    };
    format!(
        "  line {}\n  - {}\n  + {}",
        line + 1,
        show(&want_lines),
        show(&got_lines)
    )
}

/// The first way `steps` differ from the golden transcript `golden`.
pub fn against_golden(golden: &str, steps: &[Observed]) -> Result<(), String> {
    let blessed: Vec<Observed> =
        serde_json::from_str(golden).map_err(|e| format!("golden transcript: {e}"))?;
    if blessed.len() != steps.len() {
        return Err(format!(
            "golden transcript has {} steps, this run {}",
            blessed.len(),
            steps.len()
        ));
    }
    for (n, (want, got)) in blessed.iter().zip(steps).enumerate() {
        let field = |name: &str, a: String, b: String| {
            (a != b).then(|| format!("step {} vs golden: {name}: golden {a}, now {b}", n + 1))
        };
        let differences = [
            field("command", want.command.clone(), got.command.clone()),
            field("network", want.network.clone(), got.network.clone()),
            field("decision", want.decision.clone(), got.decision.clone()),
            field(
                "asked",
                format!("{:?}", want.asked),
                format!("{:?}", got.asked),
            ),
            field("exit code", want.exit.to_string(), got.exit.to_string()),
            field(
                "stdout sha256",
                show(&want.stdout_sha256),
                show(&got.stdout_sha256),
            ),
            field(
                "stderr sha256",
                show(&want.stderr_sha256),
                show(&got.stderr_sha256),
            ),
            field("created", map(&want.created), map(&got.created)),
            field("modified", map(&want.modified), map(&got.modified)),
            field(
                "removed",
                format!("{:?}", want.removed),
                format!("{:?}", got.removed),
            ),
            field(
                "violations",
                format!("{:?}", want.violations),
                format!("{:?}", got.violations),
            ),
            field(
                "requests",
                format!("{:?}", want.requests),
                format!("{:?}", got.requests),
            ),
        ];
        if let Some(first) = differences.into_iter().flatten().next() {
            return Err(first);
        }
    }
    Ok(())
}

fn show(digest: &Option<String>) -> String {
    digest
        .clone()
        .unwrap_or_else(|| "(not deterministic)".into())
}

fn map(files: &BTreeMap<String, String>) -> String {
    format!("{files:?}")
}
