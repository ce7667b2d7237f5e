//! `cordon test`: replays scenarios of agent actions and checks what came
//! of them. Each scenario runs on a fresh temporary copy of its fixture,
//! each step as a `cordon run` child with scripted answers and an audit
//! log; the observations are checked against the step's expectations and,
//! once blessed, against the golden transcript beside the scenario
//! (`NAME.golden.json`). docs/SCENARIOS.md has the format.

mod allowed;
mod expect;
mod server;
mod spec;
mod step;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use allowed::Allowed;
use step::{Observed, Sandbox};

use crate::session::Engines;

/// How `cordon test` was asked to run.
pub struct Options {
    /// Scenario files, and directories whose `*.toml` files are scenarios.
    pub paths: Vec<PathBuf>,
    /// Write the golden transcripts instead of comparing with them.
    pub bless: bool,
    /// What the person running the scenarios lets them do.
    pub allowed: Allowed,
}

/// One scenario's result.
#[derive(Serialize)]
pub struct Outcome {
    /// The scenario's file.
    pub file: PathBuf,
    /// Its name (the file's stem unless it names itself).
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// The first difference, when it failed.
    pub failure: Option<String>,
    /// sha256 of the transcript (the golden file's content).
    pub transcript_sha256: String,
    /// What each step did.
    pub steps: Vec<Observed>,
}

/// What a run of scenarios came to (as `cordon test --json` prints it).
#[derive(Serialize)]
pub struct Report {
    /// The flags that let the scenarios do more.
    pub allowed: Vec<&'static str>,
    /// Each scenario's result, in the order run.
    pub scenarios: Vec<Outcome>,
    /// How many passed.
    pub passed: usize,
    /// How many failed.
    pub failed: usize,
}

/// What a front end hears as scenarios run.
pub enum Progress<'a> {
    /// The scenarios loaded; about to run them, with these flags.
    Starting {
        /// The flags that let the scenarios do more.
        allowed: &'a [&'static str],
    },
    /// One scenario ended.
    Done(&'a Outcome),
}

/// Runs every scenario under `options.paths`, telling `progress` as it
/// goes.
///
/// # Errors
///
/// A scenario file that does not load (`FILE:LINE: problem`), a path with
/// no scenario, or a fixture that cannot be set up.
pub fn run(options: &Options, progress: &mut dyn FnMut(Progress)) -> Result<Report, String> {
    let files = scenario_files(&options.paths)?;
    let scenarios = files
        .iter()
        .map(|file| spec::load(file).map(|s| (file, s)))
        .collect::<Result<Vec<_>, _>>()?;
    let allowed = options.allowed.flags();
    progress(Progress::Starting { allowed: &allowed });
    for (file, scenario) in &scenarios {
        let dir = scenario_dir(file);
        options
            .allowed
            .check(scenario, dir)
            .map_err(|why| format!("{}: {why}", file.display()))?;
    }
    let mut outcomes = Vec::new();
    // Every step runs in a session of its own, on the same warm engines.
    let engines = Arc::new(Engines::default());
    for (file, scenario) in scenarios {
        let outcome = run_scenario(file, &scenario, options, &engines)?;
        progress(Progress::Done(&outcome));
        outcomes.push(outcome);
    }
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    Ok(Report {
        allowed,
        passed: outcomes.len() - failed,
        failed,
        scenarios: outcomes,
    })
}

/// The scenario files `paths` name: files as given, directories' `*.toml`
/// in name order.
fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(format!("{}: no scenario (*.toml) here", path.display()));
            }
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(format!(
                "{}: no such scenario file or directory",
                path.display()
            ));
        }
    }
    Ok(files)
}

fn run_scenario(
    file: &Path,
    scenario: &spec::Scenario,
    options: &Options,
    engines: &Arc<Engines>,
) -> Result<Outcome, String> {
    let (bless, allowed) = (options.bless, options.allowed);
    let name = scenario.name.clone().unwrap_or_else(|| {
        file.file_stem()
            .map_or("scenario".into(), |s| s.to_string_lossy().into_owned())
    });
    let dir = scenario_dir(file);
    let setup = |what: &str, e: std::io::Error| format!("{}: {what}: {e}", file.display());
    let tmp = tempfile::Builder::new()
        .prefix("cordon-scenario-")
        .tempdir()
        .map_err(|e| setup("temporary directory", e))?;
    let base = tmp
        .path()
        .canonicalize()
        .map_err(|e| setup("temporary directory", e))?;
    let root = base.join("project");
    let home = base.join("home");
    for made in [&root, &home, &base.join("config")] {
        std::fs::create_dir_all(made).map_err(|e| setup("temporary directory", e))?;
    }
    if let Some(fixture) = &scenario.fixture.dir {
        let fixture =
            allowed::inside(dir, fixture).map_err(|why| format!("{}: {why}", file.display()))?;
        copy_tree(&fixture, &root).map_err(|e| setup("copying the fixture", e))?;
    }
    for (files, top, inside) in [
        (&scenario.fixture.files, &root, "the root"),
        (&scenario.fixture.home, &home, "the home"),
    ] {
        for (path, content) in files {
            let relative = plain_relative(path).ok_or_else(|| {
                format!(
                    "{}: fixture file {path:?}: not a relative path inside {inside}",
                    file.display()
                )
            })?;
            write_within(top, &relative, content.as_bytes()).map_err(|e| setup(path, e))?;
        }
    }
    let mut servers = Vec::new();
    for server in &scenario.servers {
        let served = allowed::inside(dir, &server.dir)
            .map_err(|why| format!("{}: {why}", file.display()))?;
        let started = server::Server::start(&server.name, &served)
            .map_err(|e| setup(&format!("server {}", server.name), e))?;
        servers.push(started);
    }
    let sandbox = Sandbox {
        base,
        root,
        home,
        servers,
    };

    let mut steps = Vec::new();
    let mut failure = None;
    for (n, step_spec) in scenario.steps.iter().enumerate() {
        let observed = step::run(
            &sandbox,
            dir,
            &scenario.policy,
            allowed,
            engines,
            step_spec,
            n + 1,
        )
        .map_err(|e| setup(&format!("step {}", n + 1), e))?;
        if let Err(why) = expect::check(&step_spec.expect, &observed) {
            let tail: Vec<&str> = observed.stderr.lines().rev().take(5).collect();
            let tail: Vec<String> = tail.iter().rev().map(|l| format!("\n  | {l}")).collect();
            failure = Some(format!(
                "step {} (`{}`): {why}{}",
                n + 1,
                observed.command,
                tail.concat()
            ));
        }
        steps.push(observed);
        if failure.is_some() {
            break;
        }
    }
    let transcript = serde_json::to_string_pretty(&steps).expect("a transcript serializes") + "\n";
    let golden = file.with_extension("golden.json");
    if failure.is_none() {
        if bless {
            crate::atomic::write(&golden, transcript.as_bytes())
                .map_err(|e| setup("blessing", e))?;
        } else {
            // Without its golden transcript a scenario checks only its
            // expectations: that is a failure, not a pass.
            failure = match crate::config_file::read_text(&golden, GOLDEN_LIMIT) {
                Ok(text) => expect::against_golden(&text, &steps).err(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(format!(
                    "no golden transcript {}: write it with --bless",
                    golden.display()
                )),
                Err(e) => Some(format!("golden transcript {}: {e}", golden.display())),
            };
        }
    }
    Ok(Outcome {
        file: file.to_path_buf(),
        name,
        passed: failure.is_none(),
        failure,
        transcript_sha256: crate::digest::hex(&Sha256::digest(transcript.as_bytes())),
        steps,
    })
}

/// The directory a scenario file is in (`.` for a bare file name).
fn scenario_dir(file: &Path) -> &Path {
    file.parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The largest golden transcript read.
const GOLDEN_LIMIT: u64 = 16 << 20;

/// `path` as a relative path of plain names (no root, no `.` or `..`), or
/// `None`: what a scenario may name inside its root or a server's files.
fn plain_relative(path: &str) -> Option<PathBuf> {
    let relative = Path::new(path);
    let plain = !path.is_empty()
        && relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    plain.then(|| relative.to_path_buf())
}

/// Writes `bytes` at `relative` under `top`, making the directories it
/// needs, and never through a symlink (a fixture's symlink could lead out
/// of the temporary copy).
fn write_within(top: &Path, relative: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut at = top.to_path_buf();
    let names: Vec<_> = relative.iter().collect();
    for (i, name) in names.iter().enumerate() {
        at.push(name);
        let last = i + 1 == names.len();
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(std::io::Error::other(format!(
                    "{} is a symlink in the fixture; not written through",
                    at.display()
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !last => {
                std::fs::create_dir(&at)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    options.open(&at)?.write_all(bytes)
}

/// Copies the tree at `from` into `to`: directories, files, symlinks (as
/// links, never followed).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            #[cfg(unix)]
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        } else {
            // A FIFO would hold the copy; a device is not a project's file.
            return Err(std::io::Error::other(format!(
                "{}: not a regular file, directory or symlink",
                entry.path().display()
            )));
        }
    }
    Ok(())
}
