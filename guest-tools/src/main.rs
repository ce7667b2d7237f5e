//! cordon's built-in tools: one multi-call WASI program. `argv[0]` names the
//! tool (`ls`, `grep`, ...); `cordon-tools NAME ARGS...` works too.
//!
//! At start the program changes to `$PWD`, the working directory cordon
//! gives it as an absolute path, so that `..` reaches the rest of the
//! project root as it would in a shell.

mod archive;
mod diff;
mod du;
mod find;
mod grep;
mod io_error;
mod jq;
mod patch;
mod rev;
mod rg;
mod stat;
mod tree;
mod wasi_gaps;
mod xargs;

use std::ffi::OsString;

/// A tool's entry point: argv in, exit code out.
type Entry = fn(Vec<OsString>) -> i32;

/// A tool's name, the crate it comes from, and its entry point.
type Tool = (&'static str, &'static str, Entry);

/// Every tool.
const TOOLS: &[Tool] = &[
    ("apply_patch", "cordon-guest-tools", patch::apply_patch_main),
    ("base64", "uu_base64", |a| uu_base64::uumain(a.into_iter())),
    ("basename", "uu_basename", |a| {
        uu_basename::uumain(a.into_iter())
    }),
    ("cat", "uu_cat", |a| uu_cat::uumain(a.into_iter())),
    ("cmp", "diffutils", diff::cmp_main),
    ("comm", "uu_comm", |a| uu_comm::uumain(a.into_iter())),
    ("cp", "uu_cp", |a| uu_cp::uumain(a.into_iter())),
    ("cut", "uu_cut", |a| uu_cut::uumain(a.into_iter())),
    ("date", "uu_date", |a| uu_date::uumain(a.into_iter())),
    ("diff", "diffutils", diff::diff_main),
    ("dirname", "uu_dirname", |a| {
        uu_dirname::uumain(a.into_iter())
    }),
    ("du", "cordon-guest-tools", du::main),
    ("echo", "uu_echo", |a| uu_echo::uumain(a.into_iter())),
    ("expand", "uu_expand", |a| uu_expand::uumain(a.into_iter())),
    ("false", "uu_false", |a| uu_false::uumain(a.into_iter())),
    ("find", "cordon-guest-tools", find::main),
    ("fold", "uu_fold", |a| uu_fold::uumain(a.into_iter())),
    ("grep", "cordon-guest-tools", grep::main),
    ("gunzip", "flate2", archive::gunzip_main),
    ("gzip", "flate2", archive::gzip_main),
    ("head", "uu_head", |a| uu_head::uumain(a.into_iter())),
    ("jq", "jaq-core", jq::main),
    ("join", "uu_join", |a| uu_join::uumain(a.into_iter())),
    ("ls", "uu_ls", |a| uu_ls::uumain(a.into_iter())),
    ("mkdir", "uu_mkdir", |a| uu_mkdir::uumain(a.into_iter())),
    ("mv", "uu_mv", |a| uu_mv::uumain(a.into_iter())),
    ("nl", "uu_nl", |a| uu_nl::uumain(a.into_iter())),
    ("patch", "cordon-guest-tools", patch::patch_main),
    ("paste", "uu_paste", |a| uu_paste::uumain(a.into_iter())),
    ("printf", "uu_printf", |a| uu_printf::uumain(a.into_iter())),
    ("pwd", "cordon-guest-tools", wasi_gaps::pwd_main),
    ("realpath", "cordon-guest-tools", wasi_gaps::realpath_main),
    ("rev", "cordon-guest-tools", rev::main),
    ("rg", "grep-printer", rg::main),
    ("rm", "uu_rm", wasi_gaps::rm_main),
    ("sed", "sed", |a| sed::sed::uumain(a.into_iter())),
    ("seq", "uu_seq", |a| uu_seq::uumain(a.into_iter())),
    ("sha256sum", "uu_sha256sum", |a| {
        uu_sha256sum::uumain(a.into_iter())
    }),
    ("sleep", "uu_sleep", |a| uu_sleep::uumain(a.into_iter())),
    ("sort", "uu_sort", |a| uu_sort::uumain(a.into_iter())),
    ("stat", "cordon-guest-tools", stat::main),
    ("tac", "uu_tac", |a| uu_tac::uumain(a.into_iter())),
    ("tail", "uu_tail", |a| uu_tail::uumain(a.into_iter())),
    ("tar", "tar", archive::tar_main),
    ("tee", "uu_tee", |a| uu_tee::uumain(a.into_iter())),
    ("test", "uu_test", |a| uu_test::uumain(a.into_iter())),
    ("[", "uu_test", |a| uu_test::uumain(a.into_iter())),
    ("touch", "uu_touch", |a| uu_touch::uumain(a.into_iter())),
    ("tr", "uu_tr", |a| uu_tr::uumain(a.into_iter())),
    ("tree", "cordon-guest-tools", tree::main),
    ("true", "uu_true", |a| uu_true::uumain(a.into_iter())),
    ("uniq", "uu_uniq", |a| uu_uniq::uumain(a.into_iter())),
    ("wc", "uu_wc", |a| uu_wc::uumain(a.into_iter())),
    ("xargs", "cordon-guest-tools", xargs::main),
    ("zcat", "flate2", archive::zcat_main),
];

fn find_tool(name: &std::ffi::OsStr) -> Option<&'static Tool> {
    let name = name.to_str()?;
    let name = name.rsplit('/').next().unwrap_or(name);
    let name = name.strip_suffix(".wasm").unwrap_or(name);
    TOOLS.iter().find(|(tool, _, _)| *tool == name)
}

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if args.is_empty() {
        args.push("cordon-tools".into());
    }
    let tool = match find_tool(&args[0]) {
        Some(tool) => tool,
        None if args.len() > 1 && args[1] == "--list" => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            for (name, krate, _) in TOOLS {
                // A closed pipe (`| head`) is not an error here.
                if writeln!(out, "{name}\t{krate}").is_err() {
                    break;
                }
            }
            std::process::exit(0);
        }
        None => match args.get(1).and_then(|a| find_tool(a)) {
            Some(tool) => {
                args.remove(0);
                uucore::set_utility_is_second_arg();
                tool
            }
            None => {
                eprintln!("cordon-tools: no such tool; run with --list to see them");
                std::process::exit(127);
            }
        },
    };
    if let Some(pwd) = std::env::var_os("PWD") {
        // cordon gives no `.` to resolve relative paths in: `$PWD` is the
        // working directory, as an absolute path inside the root.
        let _ = std::env::set_current_dir(pwd);
    }
    std::process::exit((tool.2)(args));
}
