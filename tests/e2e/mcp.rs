//! `cordon serve --mcp` driven by a client no one here wrote: the official
//! MCP Python SDK (PyPI `mcp`, installed by .ci/run in target/mcp-venv),
//! over stdio, through tests/e2e/mcp/client.py.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{Layout, cache_dir, skip};

/// The Python that has the SDK: `CORDON_MCP_PYTHON`, or .ci/run's venv.
fn python() -> Option<PathBuf> {
    let python = std::env::var_os("CORDON_MCP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/mcp-venv/bin/python")
        });
    python.exists().then_some(python)
}

/// Runs the client's `scenario` against a server rooted in `l`; what it saw.
fn client(scenario: &str, l: &Layout) -> Option<Value> {
    let Some(python) = python() else {
        skip("no MCP Python SDK (target/mcp-venv)");
        return None;
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/mcp/client.py");
    let output = std::process::Command::new(python)
        .arg(script)
        .args([scenario, env!("CARGO_BIN_EXE_cordon")])
        .arg(&l.root)
        .arg(cache_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{scenario}: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}")))
}

#[test]
fn the_tools_are_listed_with_schemas_and_honest_annotations() {
    let l = Layout::new();
    let Some(seen) = client("tools", &l) else {
        return;
    };
    let tools = &seen["tools"];
    for (name, read_only) in [
        ("run_command", false),
        ("read_file", true),
        ("list_directory", true),
        ("apply_patch", false),
    ] {
        let tool = &tools[name];
        assert_eq!(tool["input"]["type"], "object", "{name}: {tool}");
        assert_eq!(tool["output"]["type"], "object", "{name}: {tool}");
        assert_eq!(tool["read_only"], read_only, "{name}: {tool}");
        assert_eq!(tool["destructive"], !read_only, "{name}: {tool}");
    }
    assert_eq!(tools["run_command"]["open_world"], true);
}

#[test]
fn built_in_and_native_commands_run_and_answer_in_structured_content() {
    let l = Layout::new();
    let Some(seen) = client("run", &l) else {
        return;
    };
    assert_eq!(seen["builtin"]["structured"]["stdout"], "alpha\n", "{seen}");
    assert_eq!(seen["builtin"]["structured"]["status"], "exited");
    assert_eq!(seen["native"]["structured"]["stdout"], "native\n", "{seen}");
    assert_eq!(seen["line"]["structured"]["stdout"], "1\n", "{seen}");
    assert_eq!(seen["read"]["structured"]["stdout"], "alpha\n", "{seen}");
    assert!(
        seen["list"]["structured"]["stdout"]
            .as_str()
            .unwrap()
            .contains("a.txt")
    );
    assert!(
        seen["builtin"]["text"][0]
            .as_str()
            .unwrap()
            .contains("alpha")
    );
}

/// A question goes to the client's form, which its person answers: once
/// runs the command; a decline refuses the next, which changes nothing.
#[test]
fn a_question_is_answered_in_the_clients_form_and_a_decline_refuses() {
    let l = Layout::new();
    std::fs::create_dir_all(l.at("build")).unwrap();
    let Some(seen) = client("approve", &l) else {
        return;
    };
    assert_eq!(seen["asked"].as_array().unwrap().len(), 2, "{seen}");
    assert_eq!(seen["approved"]["structured"]["status"], "exited", "{seen}");
    assert!(!l.at("build").exists());
    assert_eq!(
        seen["declined"]["structured"]["status"], "refused",
        "{seen}"
    );
    assert!(l.at("src/main.rs").exists(), "a declined rm ran");
    assert_eq!(seen["declined"]["is_error"], true);
}

/// What cordon says of a call (a program not found) comes back with that
/// call's result, not with another running at the same time.
#[test]
fn what_is_said_of_a_call_comes_back_with_that_call_only() {
    let l = Layout::new();
    let Some(seen) = client("notes", &l) else {
        return;
    };
    assert_eq!(
        seen["ended"],
        serde_json::json!(["missing", "slow"]),
        "{seen}"
    );
    let stderr = |call: &str| {
        seen[call]["structured"]["stderr"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(stderr("missing").contains("no-such-program-4711"), "{seen}");
    assert!(!stderr("slow").contains("no-such-program-4711"), "{seen}");
}

/// A client that cannot show a form, with no approver given: the call
/// reports needs-approval with a token; the person answers out of band
/// (`cordon approve`), and the call resumed with the token runs, once.
#[test]
fn without_a_form_a_question_waits_for_the_person_and_the_call_resumes() {
    let l = Layout::new();
    std::fs::create_dir_all(l.at("build")).unwrap();
    let Some(seen) = client("park", &l) else {
        return;
    };
    let parked = &seen["parked"]["structured"];
    assert_eq!(parked["status"], "needs-approval", "{seen}");
    assert!(
        seen["parked"]["text"][0]
            .as_str()
            .unwrap()
            .contains("cordon approve"),
        "{seen}"
    );
    assert_eq!(
        seen["too_soon"]["structured"]["status"], "needs-approval",
        "{seen}"
    );
    assert_eq!(seen["too_soon"]["structured"]["resume"], parked["resume"]);
    assert_eq!(seen["approve"], 0, "{seen}");
    assert_eq!(seen["resumed"]["structured"]["status"], "exited", "{seen}");
    assert!(!l.at("build").exists(), "the approved rm did not run");
    // Taken: the token resumes nothing more.
    assert!(
        seen["again"].as_str().unwrap().contains("no call waits"),
        "{seen}"
    );
}

/// One connection is one session: a grant for the session holds for the
/// first connection's later commands, and the second connection is asked
/// again for its own.
#[test]
fn two_connections_are_two_sessions_whose_grants_do_not_mix() {
    let l = Layout::new();
    std::fs::create_dir_all(l.at("build")).unwrap();
    let Some(seen) = client("sessions", &l) else {
        return;
    };
    assert_eq!(seen["first_asked"], 1, "{seen}");
    assert_eq!(seen["second_asked"], 2, "{seen}");
    assert_eq!(
        seen["second"][0]["structured"]["status"], "refused",
        "{seen}"
    );
}

/// A call the client gives up on is cancelled: what it ran is killed.
#[test]
fn a_cancelled_call_leaves_nothing_running() {
    let l = Layout::new();
    let Some(seen) = client("cancel", &l) else {
        return;
    };
    assert_eq!(seen["timed_out"], true, "{seen}");
    assert_eq!(seen["left"], serde_json::json!([]), "{seen}");
}

/// MCP over streamable HTTP: the SDK's client calls a tool with the
/// bearer token the server printed; a request without it, or with another,
/// is refused (401).
#[test]
fn streamable_http_serves_the_client_with_the_token_and_no_one_without() {
    let l = Layout::new();
    let Some(seen) = client("http", &l) else {
        return;
    };
    assert_eq!(seen["run"]["structured"]["stdout"], "alpha\n", "{seen}");
    assert_eq!(seen["without_token"], 401, "{seen}");
    assert_eq!(seen["wrong_token"], 401, "{seen}");
}
