//! The library's layers point one way, and only its front end touches the
//! terminal or the argument parser: read from the sources, so a change that
//! bends a layer back fails here, naming the files that do it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The front end: the only place that may parse arguments or print.
const FRONT_END: [&str; 3] = ["cli", "main", "lib"];

/// Each `.rs` file under `host/src`, with its top-level module and its
/// code: comments and everything from the first `#[cfg(test)]` on left
/// out.
fn sources() -> Vec<(String, PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(&src).unwrap();
                let top = relative.components().next().unwrap();
                let top = top.as_os_str().to_str().unwrap().trim_end_matches(".rs");
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap();
                let code: Vec<&str> = code
                    .lines()
                    .filter(|line| !line.trim_start().starts_with("//"))
                    .collect();
                files.push((top.to_string(), relative.to_path_buf(), code.join("\n")));
            }
        }
    }
    files
}

/// Which top-level modules each one names (`crate::NAME`), and in which
/// files.
fn imports() -> BTreeMap<String, BTreeMap<String, BTreeSet<PathBuf>>> {
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<PathBuf>>> = BTreeMap::new();
    for (top, file, code) in sources() {
        for (at, _) in code.match_indices("crate::") {
            let named: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !named.is_empty() && named != top {
                let edges = graph.entry(top.clone()).or_default();
                edges.entry(named).or_default().insert(file.clone());
            }
        }
    }
    graph
}

/// A cycle through `start`, if there is one.
fn cycle_from(
    graph: &BTreeMap<String, BTreeMap<String, BTreeSet<PathBuf>>>,
    start: &str,
) -> Option<Vec<String>> {
    let mut stack = vec![vec![start.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().unwrap();
        for next in graph.get(last).into_iter().flat_map(|edges| edges.keys()) {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn no_module_imports_from_a_module_that_imports_it_back() {
    let graph = imports();
    assert!(
        graph.contains_key("session") && graph["session"].contains_key("broker"),
        "the reading of the sources found no imports: {graph:?}"
    );
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, module) {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|pair| {
                    format!(
                        "{} -> {} in {:?}",
                        pair[0], pair[1], graph[&pair[0]][&pair[1]]
                    )
                })
                .collect();
            panic!("the layers loop back:\n  {}", steps.join("\n  "));
        }
    }
}

#[test]
fn only_the_front_end_parses_arguments_or_prints() {
    let mut found = Vec::new();
    for (top, file, code) in sources() {
        if FRONT_END.contains(&top.as_str()) {
            continue;
        }
        for needle in [
            "clap::",
            "println!",
            "eprintln!",
            "print!(",
            "eprint!(",
            "display::say",
        ] {
            if code.contains(needle) && !(top == "display" && needle == "display::say") {
                found.push(format!("{}: {needle}", file.display()));
            }
        }
    }
    assert!(found.is_empty(), "below the front end: {found:#?}");
}
