//! The built-in tools against the GNU tools on this machine: each case runs
//! once through `cordon run` and once natively, each in a fresh copy of the
//! same fixture tree, with `LC_ALL=C`. Compared: exit code, stdout, the tree
//! afterwards (names, contents, modes, symlink targets), and stderr where
//! the case says so. Cases whose GNU tool is missing here are skipped;
//! known differences are listed in docs/TOOLS.md.
//!
//! The whole set runs with the root at each [`Place`]: a tool that resolves
//! paths (mv, cp, realpath) must work wherever the root lies, and the
//! fixture holds no `tmp`, `var` or `home` to stand in for the host's by
//! accident. `<ROOT>` in a case's argv is the root's absolute path.

use std::path::Path;
use std::process::Command;

use crate::support::{allow_rm_rules, cache_dir, cordon, skip};

/// How a case is compared.
#[derive(Clone, Copy, PartialEq)]
enum Compare {
    /// Exit code, stdout, resulting tree.
    Out,
    /// Also stderr, byte for byte.
    All,
    /// Output order differs by design (find and grep -r walk in name order,
    /// GNU in directory order): compare stdout lines sorted.
    Sorted,
    /// Exit code and resulting tree only (output depends on time or
    /// wording differs, see docs/TOOLS.md).
    Code,
    /// JSON lines, compared as values without what depends on the run
    /// (timings and byte counts: `stats`, `elapsed_total`).
    Json,
}

use Compare::*;

/// (stdin, comparison, argv)
type Case = (Option<&'static str>, Compare, &'static [&'static str]);

const CASES: &[Case] = &[
    // ls
    (None, Out, &["ls"]),
    (None, Out, &["ls", "-a"]),
    (None, Out, &["ls", "-1", "src"]),
    (None, Out, &["ls", "-R", "src"]),
    (None, Out, &["ls", "-d", "src", "notes"]),
    (None, Out, &["ls", "-r", "data"]),
    (None, Out, &["ls", "-A", "notes"]),
    (None, All, &["ls", "missing"]),
    (None, Out, &["ls", "-F", "."]),
    // cat
    (None, Out, &["cat", "README.md"]),
    (None, Out, &["cat", "-n", "data/words.txt"]),
    (None, Out, &["cat", "-A", "data/tabs.txt"]),
    (None, Out, &["cat", "notes/a b.txt", "notes/ünï.txt"]),
    (Some("from stdin\n"), Out, &["cat"]),
    (Some("in\n"), Out, &["cat", "-", "README.md"]),
    (None, All, &["cat", "missing"]),
    // head / tail
    (None, Out, &["head", "data/numbers.txt"]),
    (None, Out, &["head", "-n", "3", "data/numbers.txt"]),
    (None, Out, &["head", "-c", "10", "README.md"]),
    (None, Out, &["head", "-n", "-95", "data/numbers.txt"]),
    (
        None,
        Out,
        &["head", "-n", "2", "README.md", "data/words.txt"],
    ),
    (None, Out, &["tail", "data/numbers.txt"]),
    (None, Out, &["tail", "-n", "3", "data/numbers.txt"]),
    (None, Out, &["tail", "-n", "+98", "data/numbers.txt"]),
    (None, Out, &["tail", "-c", "7", "README.md"]),
    // wc
    (None, Out, &["wc", "README.md"]),
    (None, Out, &["wc", "-l", "data/numbers.txt"]),
    (None, Out, &["wc", "-w", "data/words.txt"]),
    (None, Out, &["wc", "-c", "data/words.txt"]),
    (
        None,
        Out,
        &["wc", "-l", "data/numbers.txt", "data/words.txt"],
    ),
    (Some("a b\nc\n"), Out, &["wc", "-l"]),
    // grep
    (None, Out, &["grep", "TODO", "src/main.rs"]),
    (None, Out, &["grep", "-n", "TODO", "src/main.rs"]),
    (None, Sorted, &["grep", "-rn", "TODO", "src"]),
    (None, Sorted, &["grep", "-r", "TODO", "."]),
    (None, Sorted, &["grep", "-R", "fn", "src"]),
    (None, Out, &["grep", "-i", "todo", "src/main.rs"]),
    (None, Out, &["grep", "-v", "fn", "src/main.rs"]),
    (
        None,
        Out,
        &["grep", "-c", "fn", "src/main.rs", "src/lib.rs"],
    ),
    (
        None,
        Out,
        &["grep", "-l", "fn", "src/main.rs", "src/lib.rs", "README.md"],
    ),
    (
        None,
        Out,
        &["grep", "-L", "fn", "src/main.rs", "src/lib.rs", "README.md"],
    ),
    (None, Out, &["grep", "-w", "main", "src/main.rs"]),
    (None, Out, &["grep", "-x", "apple", "data/words.txt"]),
    (None, Out, &["grep", "-E", "ap+le|cherry", "data/words.txt"]),
    (None, Out, &["grep", "ap\\+le\\|cherry", "data/words.txt"]),
    (None, Out, &["grep", "a.p", "data/words.txt"]),
    (None, Out, &["grep", "-F", "a.p", "data/words.txt"]),
    (
        None,
        Out,
        &["grep", "-e", "apple", "-e", "banana", "data/words.txt"],
    ),
    (None, Out, &["grep", "-o", "[0-9][0-9]", "data/numbers.txt"]),
    (None, Out, &["grep", "-H", "apple", "data/words.txt"]),
    (
        None,
        Out,
        &["grep", "-h", "fn", "src/main.rs", "src/lib.rs"],
    ),
    (None, Out, &["grep", "-q", "apple", "data/words.txt"]),
    (None, Out, &["grep", "-q", "zebra", "data/words.txt"]),
    (None, Out, &["grep", "-s", "x", "missing"]),
    (None, All, &["grep", "x", "missing"]),
    (None, Sorted, &["grep", "-r", "--include=*.rs", "fn", "."]),
    (None, Sorted, &["grep", "-r", "--exclude=*.rs", "TODO", "."]),
    (None, Out, &["grep", "zebra", "data/words.txt"]),
    (
        None,
        Out,
        &["grep", "-n", "-A", "1", "banana", "data/words.txt"],
    ),
    (None, Out, &["grep", "-C", "1", "cherry", "data/words.txt"]),
    (None, All, &["grep", "abc", "data/bin.dat"]),
    (None, Out, &["grep", "-c", "abc", "data/bin.dat"]),
    (Some("one\ntwo\n"), Out, &["grep", "o"]),
    (None, Sorted, &["grep", "-rl", "secret", "notes"]),
    (None, Sorted, &["grep", "-rn", "TODO"]),
    (None, Sorted, &["grep", "-rc", "fn", "--include=*.rs"]),
    (
        None,
        Out,
        &[
            "grep",
            "-E",
            "-o",
            "[a-z]+berry",
            "data/words.txt",
            "data/words2.txt",
        ],
    ),
    (None, Out, &["grep", "ünï", "notes/ünï.txt"]),
    (None, Sorted, &["grep", "-ri", "HELLO", "notes"]),
    // find
    (None, Sorted, &["find", "."]),
    (None, Sorted, &["find", "src"]),
    (None, Sorted, &["find", ".", "-name", "*.rs"]),
    (None, Sorted, &["find", ".", "-iname", "*.MD"]),
    (None, Sorted, &["find", ".", "-type", "d"]),
    (None, Sorted, &["find", ".", "-type", "f", "-name", "*.txt"]),
    (None, Sorted, &["find", ".", "-maxdepth", "1"]),
    (None, Sorted, &["find", ".", "-mindepth", "2", "-type", "f"]),
    (None, Sorted, &["find", ".", "-path", "./src/*"]),
    (None, Sorted, &["find", ".", "-empty"]),
    (
        None,
        Sorted,
        &["find", ".", "-name", "*.rs", "-o", "-name", "*.md"],
    ),
    (
        None,
        Sorted,
        &["find", ".", "!", "-name", "*.txt", "-type", "f"],
    ),
    (
        None,
        Sorted,
        &[
            "find", ".", "-name", "src", "-prune", "-o", "-type", "f", "-print",
        ],
    ),
    (None, Sorted, &["find", ".", "-size", "+1k"]),
    (None, Sorted, &["find", "notes", "data"]),
    (None, Code, &["find", "missing"]),
    (None, Sorted, &["find", "logs", "-name", "*.log", "-delete"]),
    // sed
    (None, Out, &["sed", "s/apple/APPLE/", "data/words.txt"]),
    (None, Out, &["sed", "-n", "2p", "data/words.txt"]),
    (None, Out, &["sed", "-n", "2,4p", "data/numbers.txt"]),
    (None, Out, &["sed", "/banana/d", "data/words.txt"]),
    (
        None,
        Out,
        &["sed", "-e", "s/a/A/g", "-e", "s/e/E/", "data/words.txt"],
    ),
    (
        None,
        Out,
        &["sed", "-E", "s/(a)(p)/\\2\\1/", "data/words.txt"],
    ),
    (None, Out, &["sed", "-i", "s/TODO/DONE/", "src/main.rs"]),
    (None, Out, &["sed", "3q", "data/numbers.txt"]),
    (None, Out, &["sed", "$d", "data/words.txt"]),
    (Some("x y\n"), Out, &["sed", "s/ /_/"]),
    // sort / uniq / cut / tr
    (None, Out, &["sort", "data/words.txt"]),
    (None, Out, &["sort", "-r", "data/words.txt"]),
    (None, Out, &["sort", "-n", "data/mixed.txt"]),
    (None, Out, &["sort", "-u", "data/dups.txt"]),
    (None, Out, &["sort", "-t", ",", "-k", "2", "data/table.csv"]),
    (
        None,
        Out,
        &["sort", "-n", "-k", "3", "-t", ",", "data/table.csv"],
    ),
    (None, Out, &["uniq", "data/dups.txt"]),
    (None, Out, &["uniq", "-c", "data/dups.txt"]),
    (None, Out, &["uniq", "-d", "data/dups.txt"]),
    (None, Out, &["uniq", "-u", "data/dups.txt"]),
    (None, Out, &["cut", "-d", ",", "-f", "1", "data/table.csv"]),
    (
        None,
        Out,
        &["cut", "-d", ",", "-f", "2,3", "data/table.csv"],
    ),
    (None, Out, &["cut", "-c", "1-3", "data/words.txt"]),
    (Some("hello world\n"), Out, &["tr", "a-z", "A-Z"]),
    (Some("hello world\n"), Out, &["tr", "-d", "lo"]),
    (Some("aabbcc\n"), Out, &["tr", "-s", "a-c"]),
    // diff / cmp
    (None, Out, &["diff", "data/words.txt", "data/words2.txt"]),
    (
        None,
        Out,
        &["diff", "-u", "data/words.txt", "data/words2.txt"],
    ),
    (None, Out, &["diff", "data/words.txt", "data/words.txt"]),
    (
        None,
        Out,
        &["diff", "-q", "data/words.txt", "data/words2.txt"],
    ),
    (None, Out, &["diff", "data/short.txt", "data/short2.txt"]),
    (None, Code, &["diff", "data/words.txt", "missing"]),
    (None, Out, &["cmp", "data/words.txt", "data/words.txt"]),
    (None, Out, &["cmp", "data/words.txt", "data/words2.txt"]),
    // files
    (None, Out, &["mkdir", "newdir"]),
    (None, Out, &["mkdir", "-p", "a/b/c"]),
    // uu_mkdir words this error differently (docs/TOOLS.md).
    (None, Out, &["mkdir", "src"]),
    (None, Out, &["rm", "README.md"]),
    (None, Out, &["rm", "-r", "notes"]),
    (None, Out, &["rm", "-f", "missing"]),
    (None, All, &["rm", "missing"]),
    (None, All, &["rm", "src"]),
    (None, Out, &["rm", "-rf", "logs"]),
    (None, Out, &["cp", "README.md", "copy.md"]),
    (None, Out, &["cp", "-r", "src", "src2"]),
    (None, Out, &["cp", "README.md", "notes/"]),
    (None, Out, &["mv", "README.md", "moved.md"]),
    (None, Out, &["mv", "notes", "renamed"]),
    (None, Out, &["mv", "README.md", "src/"]),
    (
        None,
        Out,
        &["mv", "-t", "src", "README.md", "data/short.txt"],
    ),
    (None, Out, &["mv", "<ROOT>/README.md", "<ROOT>/notes/"]),
    (None, Out, &["mv", "readme-link", "moved-link"]),
    (None, Out, &["mv", "script.sh", "data/"]),
    (None, Out, &["mv", "notes/empty.txt", "private.txt"]),
    (None, Out, &["ls", "-F", "data", "notes", "."]),
    (None, All, &["mv", "missing", "x"]),
    (None, Out, &["cp", "<ROOT>/README.md", "copy.md"]),
    (None, Out, &["cp", "-r", "<ROOT>/src", "<ROOT>/data/"]),
    (None, Out, &["cp", "-P", "readme-link", "copied-link"]),
    (None, Out, &["cp", "readme-link", "copied-target"]),
    (None, Out, &["rm", "readme-link"]),
    (None, Out, &["cat", "<ROOT>/src/lib.rs", "src-link/lib.rs"]),
    (None, Out, &["ls", "<ROOT>/src"]),
    (None, Code, &["touch", "new-file"]),
    (None, Out, &["touch", "-c", "missing"]),
    (Some("tee me\n"), Out, &["tee", "teed.txt"]),
    (Some("more\n"), Out, &["tee", "-a", "README.md"]),
    // text and names
    (None, Out, &["echo", "hello", "world"]),
    (None, Out, &["echo", "-n", "no newline"]),
    (None, Out, &["echo", "-e", "a\\tb"]),
    (None, Out, &["printf", "%s-%d\\n", "x", "42"]),
    (None, Out, &["printf", "%5.2f|%-4s|\\n", "3.14159", "ab"]),
    (None, Out, &["basename", "/a/b/c.txt"]),
    (None, Out, &["basename", "/a/b/c.txt", ".txt"]),
    (None, Out, &["dirname", "/a/b/c.txt"]),
    (None, Out, &["dirname", "c.txt"]),
    (None, Out, &["seq", "5"]),
    (None, Out, &["pwd"]),
    (None, Out, &["realpath", "src/../README.md"]),
    (None, Out, &["realpath", "-m", "no/such/../file"]),
    (None, Out, &["realpath", "<ROOT>/src/../README.md"]),
    (None, Out, &["realpath", "readme-link", "src-link/lib.rs"]),
    (None, Out, &["realpath", "-s", "src-link/lib.rs"]),
    (None, Out, &["seq", "2", "3", "11"]),
    (None, Out, &["seq", "-s", ",", "3"]),
    (None, Out, &["sha256sum", "README.md"]),
    (
        None,
        Out,
        &["sha256sum", "data/words.txt", "data/numbers.txt"],
    ),
    (None, Out, &["base64", "README.md"]),
    (Some("aGVsbG8K\n"), Out, &["base64", "-d"]),
    (None, Out, &["test", "-f", "README.md"]),
    (None, Out, &["test", "-d", "README.md"]),
    (None, Out, &["test", "-e", "missing"]),
    (None, Out, &["test", "3", "-gt", "2"]),
    (None, Out, &["test", "abc", "=", "abd"]),
    (None, Out, &["true"]),
    (None, Out, &["false"]),
    (None, Out, &["sleep", "0.1"]),
    (None, Code, &["date"]),
    (None, Out, &["date", "-u", "-d", "@0", "+%Y-%m-%d %H:%M:%S"]),
    // nl (agents read files with `nl -ba FILE`)
    (None, Out, &["nl", "README.md"]),
    (None, Out, &["nl", "-ba", "src/main.rs"]),
    (None, Out, &["nl", "-ba", "data/words.txt"]),
    (None, Out, &["nl", "-w3", "-s", ": ", "data/short.txt"]),
    (None, Out, &["nl", "-v", "10", "-i", "5", "data/short.txt"]),
    (Some("a\n\nb\n"), Out, &["nl"]),
    (Some("a\n\nb\n"), Out, &["nl", "-ba", "-nrz"]),
    (None, All, &["nl", "missing"]),
    // paste
    (None, Out, &["paste", "data/short.txt", "data/short2.txt"]),
    (
        None,
        Out,
        &["paste", "-d", ",", "data/short.txt", "data/short2.txt"],
    ),
    (None, Out, &["paste", "-s", "data/short.txt"]),
    (None, Out, &["paste", "-s", "-d", "+", "data/short2.txt"]),
    (Some("1\n2\n3\n4\n"), Out, &["paste", "-", "-"]),
    // comm
    (None, Out, &["comm", "data/words.txt", "data/words2.txt"]),
    (
        None,
        Out,
        &["comm", "-12", "data/words.txt", "data/words2.txt"],
    ),
    (
        None,
        Out,
        &["comm", "-23", "data/words.txt", "data/words2.txt"],
    ),
    (
        None,
        Out,
        &["comm", "-3", "data/words.txt", "data/words2.txt"],
    ),
    // join
    (None, Out, &["join", "data/left.txt", "data/right.txt"]),
    (
        None,
        Out,
        &["join", "-a", "1", "data/left.txt", "data/right.txt"],
    ),
    (
        None,
        Out,
        &["join", "-v", "2", "data/left.txt", "data/right.txt"],
    ),
    (
        None,
        Out,
        &["join", "-o", "1.2,2.2", "data/left.txt", "data/right.txt"],
    ),
    (
        None,
        Out,
        &["join", "-t", ",", "data/left.csv", "data/right.csv"],
    ),
    // fold
    (None, Out, &["fold", "-w", "80", "data/big.txt"]),
    (None, Out, &["fold", "-w", "5", "data/words.txt"]),
    (None, Out, &["fold", "-s", "-w", "12", "README.md"]),
    (None, Out, &["fold", "-b", "-w", "3", "data/short2.txt"]),
    // expand
    (None, Out, &["expand", "data/tabs.txt"]),
    (None, Out, &["expand", "-t", "4", "data/tabs.txt"]),
    (Some("a\tb\tc\n"), Out, &["expand", "-t", "2,6"]),
    (Some("\ta\tb\n"), Out, &["expand", "-i", "-t", "3"]),
    // tac
    (None, Out, &["tac", "data/words.txt"]),
    (None, Out, &["tac", "data/short.txt", "data/short2.txt"]),
    (Some("a,b,c,"), Out, &["tac", "-s", ","]),
    (Some("x\ny\nz"), Out, &["tac"]),
    (None, All, &["tac", "missing"]),
    // rev
    (None, Out, &["rev", "data/words.txt"]),
    (None, Out, &["rev", "README.md", "data/short.txt"]),
    (Some("abc\nde"), Out, &["rev"]),
    (None, All, &["rev", "missing"]),
    // xargs (running cordon's own tools)
    (Some("a b\nc\n"), Out, &["xargs"]),
    (Some("1\n2\n3\n4\n5\n"), Out, &["xargs", "-n", "2"]),
    (Some("src\ndata\n"), Out, &["xargs", "ls"]),
    (
        Some("README.md\n"),
        Out,
        &["xargs", "-I", "{}", "cp", "{}", "{}.bak"],
    ),
    (
        Some("README.md\0src/main.rs\0"),
        Out,
        &["xargs", "-0", "wc", "-l"],
    ),
    (Some("a,b,c"), Out, &["xargs", "-d", ",", "echo"]),
    (Some(""), Out, &["xargs", "-r", "echo", "hi"]),
    (Some(""), Out, &["xargs", "echo", "hi"]),
    (Some("missing\n"), Out, &["xargs", "cat"]),
    (Some("'a b' \"c d\" e\\ f\n"), Out, &["xargs", "-n", "1"]),
    (Some("x y\nz\n"), Out, &["xargs", "-L", "1", "echo"]),
    (
        Some("data/words.txt\n"),
        Out,
        &["xargs", "grep", "-n", "an"],
    ),
    (Some("notes\n"), Out, &["xargs", "-t", "rm", "-r"]),
    // rg (ripgrep walks in parallel, so several files come in any order)
    (None, Out, &["rg", "TODO", "src/main.rs"]),
    (None, Out, &["rg", "-n", "TODO", "src/main.rs"]),
    (None, Sorted, &["rg", "-n", "TODO", "."]),
    (None, Sorted, &["rg", "TODO", "src"]),
    (None, Sorted, &["rg", "-n", "TODO", "<ROOT>/src"]),
    (None, Out, &["rg", "-i", "todo", "README.md"]),
    (None, Sorted, &["rg", "-l", "fn", "src"]),
    (None, Sorted, &["rg", "-c", "fn", "src"]),
    (None, Out, &["rg", "-c", "an", "data/words.txt"]),
    (None, Out, &["rg", "--count-matches", "a", "data/words.txt"]),
    (
        None,
        Sorted,
        &["rg", "--files-without-match", "TODO", "src"],
    ),
    (None, Out, &["rg", "-w", "main", "src/main.rs"]),
    (None, Out, &["rg", "-x", "fig", "data/words.txt"]),
    (None, Out, &["rg", "-v", "a", "data/words.txt"]),
    (None, Out, &["rg", "a.p", "data/words.txt"]),
    (None, Out, &["rg", "-F", "a.p", "data/words.txt"]),
    (
        None,
        Out,
        &["rg", "-e", "apple", "-e", "fig", "data/words.txt"],
    ),
    (None, Out, &["rg", "-o", "[0-9][0-9]", "data/numbers.txt"]),
    (None, Out, &["rg", "-r", "X", "apple", "data/words.txt"]),
    (None, Out, &["rg", "--column", "an", "data/words.txt"]),
    (None, Out, &["rg", "-S", "hello", "README.md"]),
    (None, Out, &["rg", "-S", "Hello", "notes/ünï.txt"]),
    (None, Sorted, &["rg", "-g", "*.rs", "TODO", "."]),
    (None, Sorted, &["rg", "-g", "!*.rs", "TODO", "."]),
    (None, Sorted, &["rg", "--iglob", "*.MD", "TODO", "."]),
    (None, Sorted, &["rg", "-t", "rust", "fn", "."]),
    (None, Sorted, &["rg", "-T", "rust", "TODO", "."]),
    (None, Sorted, &["rg", "--files", "src"]),
    (None, Sorted, &["rg", "--files", "."]),
    (None, Sorted, &["rg", "--files", "--hidden", "."]),
    (None, Sorted, &["rg", "--files", "--no-ignore", "."]),
    (None, Sorted, &["rg", "-u", "--files", "."]),
    (None, Sorted, &["rg", "-uu", "TODO", "."]),
    (None, Sorted, &["rg", "--hidden", "-n", "TODO", "."]),
    (None, Sorted, &["rg", "-L", "--files", "."]),
    (None, Out, &["rg", "-A", "1", "banana", "data/words.txt"]),
    (None, Out, &["rg", "-B", "1", "cherry", "data/words.txt"]),
    (
        None,
        Out,
        &["rg", "-n", "-C", "1", "date", "data/words.txt"],
    ),
    (
        None,
        Out,
        &[
            "rg",
            "-n",
            "-C",
            "1",
            "-e",
            "apple",
            "-e",
            "fig",
            "data/words.txt",
        ],
    ),
    (None, Out, &["rg", "-m", "2", "a", "data/words.txt"]),
    (None, Out, &["rg", "-q", "apple", "data/words.txt"]),
    (None, Out, &["rg", "zebra", "data/words.txt"]),
    (None, Out, &["rg", "abc", "data/bin.dat"]),
    (None, Sorted, &["rg", "abc", "data"]),
    (None, Json, &["rg", "--json", "TODO", "src/main.rs"]),
    (
        None,
        Json,
        &["rg", "--json", "-n", "an", "data/words.txt", "missing"],
    ),
    (None, All, &["rg", "x", "missing"]),
    (Some("one\ntwo\n"), Out, &["rg", "o"]),
    (Some("one\ntwo\n"), Out, &["rg", "-n", "t", "-"]),
    (None, Out, &["rg", "-H", "apple", "data/words.txt"]),
    (None, Sorted, &["rg", "-I", "TODO", "src"]),
    // du (GNU walks in directory order)
    (None, Sorted, &["du", "src"]),
    (None, Sorted, &["du", "-a", "src"]),
    (None, Out, &["du", "-s", "."]),
    (None, Out, &["du", "-sh", "data"]),
    (None, Out, &["du", "-sk", "notes"]),
    (None, Out, &["du", "-b", "data/words.txt"]),
    (None, Sorted, &["du", "-ab", "src"]),
    (None, Sorted, &["du", "-a", "--apparent-size", "notes"]),
    (None, Sorted, &["du", "-c", "src", "data"]),
    (None, Sorted, &["du", "-d", "1", "."]),
    (None, Sorted, &["du", "-h", "--max-depth=1", "src"]),
    (None, All, &["du", "missing"]),
    // stat (inode numbers and access times differ between the copies:
    // the default report is compared by exit code)
    (None, Code, &["stat", "README.md"]),
    (
        None,
        Out,
        &[
            "stat",
            "-c",
            "%n %s %F %a %A %h",
            "README.md",
            "src",
            "readme-link",
            "notes/empty.txt",
        ],
    ),
    (None, Out, &["stat", "-c", "%U %G %u %g", "README.md"]),
    (None, Out, &["stat", "-L", "-c", "%n %F %s", "readme-link"]),
    (
        None,
        Out,
        &["stat", "-c", "%N", "readme-link", "notes/a b.txt"],
    ),
    (
        None,
        Out,
        &[
            "stat",
            "--printf",
            "%n:%s\\n",
            "data/words.txt",
            "data/short.txt",
        ],
    ),
    (None, Out, &["stat", "-c", "%y %Y", "README.md"]),
    (None, Out, &["stat", "-c", "%b %B %o", "data/big.txt"]),
    (
        None,
        Out,
        &["stat", "-c", "%10s|%-6a|%04a|", "data/words.txt"],
    ),
    (
        None,
        Out,
        &[
            "stat",
            "-c",
            "%F",
            "empty-dir",
            "notes/empty.txt",
            "script.sh",
        ],
    ),
    (None, All, &["stat", "missing"]),
    // tar (GNU tar 1.34), reading archives GNU tar wrote and writing ones
    // GNU tar reads
    (None, Out, &["tar", "-tf", "archives/pkg.tar"]),
    (None, Out, &["tar", "-tzf", "archives/pkg.tgz"]),
    (None, Out, &["tar", "-tf", "archives/pkg.tgz"]),
    (None, Out, &["tar", "tf", "archives/pkg.tar", "pkg/a.txt"]),
    (None, Out, &["tar", "-tvf", "archives/pkg.tar"]),
    (None, Out, &["tar", "-xf", "archives/pkg.tar"]),
    (
        None,
        Out,
        &["tar", "-xzf", "archives/pkg.tgz", "-C", "empty-dir"],
    ),
    (None, Out, &["tar", "xf", "archives/pkg.tar", "pkg/a.txt"]),
    (None, Out, &["tar", "-xvf", "archives/pkg.tar"]),
    (None, Out, &["tar", "-xOf", "archives/pkg.tar", "pkg/a.txt"]),
    (
        None,
        Out,
        &["tar", "--strip-components=1", "-xf", "archives/pkg.tar"],
    ),
    (None, Out, &["tar", "-cf", "out.tar", "src"]),
    (None, Out, &["tar", "-czf", "out.tgz", "src", "notes"]),
    (None, Sorted, &["tar", "-cvf", "out.tar", "src"]),
    (None, Out, &["tar", "-cf", "out.tar", "-C", "src", "."]),
    (
        None,
        Out,
        &["tar", "cf", "out.tar", "readme-link", "data/words.txt"],
    ),
    (None, Code, &["tar", "-xf", "missing.tar"]),
    (None, Code, &["tar", "-cf", "out.tar", "missing"]),
    // gzip, gunzip, zcat (GNU gzip 1.12); compressed bytes differ by
    // design (another deflate), so .gz files compare by their contents
    (None, Out, &["gzip", "data/words.txt"]),
    (None, Out, &["gzip", "-k", "data/words.txt"]),
    (None, Code, &["gzip", "-c", "data/words.txt"]),
    (
        None,
        Out,
        &["gzip", "-f", "-k", "data/short.txt", "data/dups.txt"],
    ),
    (None, Out, &["gunzip", "archives/note.txt.gz"]),
    (None, Out, &["gunzip", "-k", "archives/note.txt.gz"]),
    (None, Out, &["gunzip", "-c", "archives/note.txt.gz"]),
    (None, Out, &["gzip", "-d", "archives/note.txt.gz"]),
    (None, Out, &["gzip", "-dc", "archives/note.txt.gz"]),
    (None, Out, &["gzip", "-t", "archives/note.txt.gz"]),
    (None, Out, &["zcat", "archives/note.txt.gz"]),
    (None, Out, &["zcat", "archives/pkg.tgz"]),
    (None, All, &["gzip", "missing"]),
    (None, Code, &["gunzip", "data/words.txt"]),
    (Some("hello\n"), Code, &["gzip"]),
    // jq (Debian's jq 1.6)
    (None, Out, &["jq", ".", "data/conf.json"]),
    (None, Out, &["jq", "-c", ".", "data/items.json"]),
    (None, Out, &["jq", ".version", "data/conf.json"]),
    (None, Out, &["jq", "-r", ".version", "data/conf.json"]),
    (None, Out, &["jq", ".servers[].host", "data/conf.json"]),
    (
        None,
        Out,
        &["jq", ".[] | select(.stock > 0) | .name", "data/items.json"],
    ),
    (None, Out, &["jq", "map(.price) | add", "data/items.json"]),
    (None, Out, &["jq", "length", "data/items.json"]),
    (None, Out, &["jq", "keys", "data/conf.json"]),
    (None, Out, &["jq", ".limits | to_entries", "data/conf.json"]),
    (
        None,
        Out,
        &[
            "jq",
            "-r",
            ".[] | \"\\(.name): \\(.price)\"",
            "data/items.json",
        ],
    ),
    (
        None,
        Out,
        &[
            "jq",
            "-c",
            "sort_by(.price) | map(.name)",
            "data/items.json",
        ],
    ),
    (
        None,
        Out,
        &[
            "jq",
            "-c",
            "group_by(.tags[0]) | map({key: .[0].tags[0], n: length})",
            "data/items.json",
        ],
    ),
    (
        None,
        Out,
        &["jq", ".[2] | has(\"stock\")", "data/items.json"],
    ),
    (
        None,
        Out,
        &[
            "jq",
            "-r",
            ".[] | [.name, .price] | @csv",
            "data/items.json",
        ],
    ),
    (
        None,
        Out,
        &[
            "jq",
            "-r",
            ".[] | [.name, .stock] | @tsv",
            "data/items.json",
        ],
    ),
    (None, Out, &["jq", ".missing", "data/conf.json"]),
    (
        None,
        Out,
        &["jq", ".servers | map(.port) | max", "data/conf.json"],
    ),
    (
        None,
        Out,
        &[
            "jq",
            "--arg",
            "h",
            "b.example",
            ".servers[] | select(.host == $h) | .port",
            "data/conf.json",
        ],
    ),
    (
        None,
        Out,
        &["jq", "--argjson", "n", "1", ".[$n].name", "data/items.json"],
    ),
    (None, Out, &["jq", "-n", "1 + 2"]),
    (None, Out, &["jq", "-n", "[range(5)]"]),
    (
        None,
        Out,
        &["jq", "-s", "length", "data/items.json", "data/conf.json"],
    ),
    (None, Out, &["jq", "-e", ".debug", "data/conf.json"]),
    (None, Out, &["jq", "-e", ".version", "data/conf.json"]),
    (None, Code, &["jq", ".[", "data/conf.json"]),
    (None, Code, &["jq", ".", "data/words.txt"]),
    (None, Code, &["jq", ".", "missing"]),
    (Some("{\"a\":1}\n{\"a\":2}\n"), Out, &["jq", ".a"]),
    (Some("[1,[2,3]]"), Out, &["jq", "-c", "flatten"]),
    (
        None,
        Out,
        &["jq", "-r", ".[] | .tags | join(\",\")", "data/items.json"],
    ),
    (
        None,
        Out,
        &["jq", ".[] | .stock // \"none\"", "data/items.json"],
    ),
    (
        None,
        Out,
        &["jq", "-c", "map(.name | ascii_upcase)", "data/items.json"],
    ),
    (
        None,
        Out,
        &[
            "jq",
            "-c",
            ".limits | with_entries(.value |= tostring)",
            "data/conf.json",
        ],
    ),
    (None, Out, &["jq", "-R", "length", "data/words.txt"]),
    (None, Out, &["jq", "-c", ".servers[1:]", "data/conf.json"]),
    (None, Out, &["jq", "del(.servers)", "data/conf.json"]),
    (
        None,
        Out,
        &["jq", "-c", ".version | split(\".\")", "data/conf.json"],
    ),
    (None, Out, &["jq", "-S", ".", "data/conf.json"]),
    (
        None,
        Out,
        &["jq", "-c", "map(.price * 2)", "data/items.json"],
    ),
    (
        None,
        Out,
        &["jq", "any(.[]; .stock == 0)", "data/items.json"],
    ),
    (
        None,
        Out,
        &[
            "jq",
            "-c",
            ".[] | select(.name | test(\"^b\"))",
            "data/items.json",
        ],
    ),
    (None, Out, &["jq", "-j", ".[] | .name", "data/items.json"]),
    (None, Out, &["jq", "--tab", ".limits", "data/conf.json"]),
    (
        None,
        Out,
        &["jq", "--indent", "1", ".limits", "data/conf.json"],
    ),
    (
        None,
        Out,
        &["jq", "-r", ".version | @base64", "data/conf.json"],
    ),
    (None, Out, &["jq", "-c", "[paths]", "data/conf.json"]),
    (
        None,
        Out,
        &["jq", "[.[] | .price] | min", "data/items.json"],
    ),
    (
        None,
        Out,
        &["jq", "-c", "[.[] | .stock | values]", "data/items.json"],
    ),
    (None, Out, &["jq", "-c", "to_entries[0]", "data/conf.json"]),
    (
        None,
        Out,
        &["jq", "-c", ".servers | reverse", "data/conf.json"],
    ),
    (
        None,
        Out,
        &["jq", "[.[] | .tags[]] | unique", "data/items.json"],
    ),
    (None, Out, &["jq", "-n", "\"a\" * 3"]),
    (None, Out, &["jq", "-n", "1 / 3"]),
    (None, Out, &["jq", "-n", "[limit(3; repeat(1))]"]),
    (
        None,
        Out,
        &["jq", ".limits.mem | ltrimstr(\"1\")", "data/conf.json"],
    ),
];

/// The fixture tree, built fresh for every run of every case.
fn fixture(dir: &Path) {
    let files: &[(&str, &[u8])] = &[
        (
            "README.md",
            b"# Demo\nHello from the demo project.\nTODO: write docs\n",
        ),
        (
            "src/main.rs",
            b"fn main() {\n    // TODO: parse args\n    println!(\"hi\");\n}\n",
        ),
        (
            "src/lib.rs",
            b"pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
        ),
        ("src/util/mod.rs", b"// TODO: more\npub mod io;\n"),
        ("notes/a b.txt", b"a file with spaces\nsecret plan\n"),
        ("notes/ünï.txt", "ünï code\nHello\n".as_bytes()),
        ("notes/empty.txt", b""),
        (
            "data/words.txt",
            b"apple\nbanana\ncherry\ndate\nelderberry\nfig\n",
        ),
        (
            "data/words2.txt",
            b"apple\nblueberry\ncherry\ndate\nfig\ngrape\n",
        ),
        ("data/short.txt", b"a\nb\n"),
        ("data/short2.txt", b"a\nb\nc\n"),
        ("data/mixed.txt", b"10\n9\n100\n-3\n2.5\n"),
        ("data/dups.txt", b"a\na\nb\nc\nc\nc\nd\n"),
        (
            "data/table.csv",
            b"id,name,score\n1,zoe,30\n2,adam,4\n3,mia,100\n",
        ),
        ("data/tabs.txt", b"a\tb\r\nend\n"),
        ("data/bin.dat", b"abc\0def\nabc\n"),
        ("data/left.txt", b"1 apple\n2 banana\n3 cherry\n"),
        ("data/right.txt", b"1 red\n3 dark\n4 green\n"),
        ("data/left.csv", b"a,1\nb,2\nc,3\n"),
        ("data/right.csv", b"a,x\nc,z\n"),
        (
            "data/items.json",
            br#"[{"name":"apple","price":1.5,"tags":["fruit","red"],"stock":10},
{"name":"banana","price":0.25,"tags":["fruit"],"stock":0},
{"name":"carrot","price":0.8,"tags":["vegetable"],"stock":null}]
"#,
        ),
        (
            "data/conf.json",
            br#"{"version":"1.2.3","debug":false,
"servers":[{"host":"a.example","port":80},{"host":"b.example","port":8443}],
"limits":{"cpu":2,"mem":"1G","ratio":0.75}}
"#,
        ),
        ("logs/one.log", b"log\n"),
        ("logs/keep.txt", b"keep\n"),
        ("logs/deep/two.log", b"log\n"),
        ("script.sh", b"#!/bin/sh\necho hi\n"),
        // A hidden directory, and ignore files: rg honours `.ignore`
        // everywhere and `.gitignore` only in a git repository (this is
        // none).
        (".config/settings.toml", b"# TODO: hidden\nlevel = 1\n"),
        (".ignore", b"logs/deep/\n"),
        (".gitignore", b"*.md\n"),
    ];
    for (path, bytes) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    for (path, bytes) in archives() {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let numbers: String = (1..=100).map(|n| format!("{n}\n")).collect();
    std::fs::write(dir.join("data/numbers.txt"), numbers).unwrap();
    std::fs::write(dir.join("data/big.txt"), "x".repeat(3000)).unwrap();
    std::fs::create_dir_all(dir.join("empty-dir")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    // An executable (`ls -F` marks it) and a private file (a move keeps
    // its bits).
    let executable = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(dir.join("script.sh"), executable).unwrap();
    let private = std::fs::Permissions::from_mode(0o600);
    std::fs::set_permissions(dir.join("notes/empty.txt"), private).unwrap();
    std::os::unix::fs::symlink("README.md", dir.join("readme-link")).unwrap();
    std::os::unix::fs::symlink("src", dir.join("src-link")).unwrap();
    // Fixed times, so that `diff -u` headers and `ls -t` agree between the
    // two copies.
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    for path in walk(dir) {
        if path.is_file() && !path.is_symlink() {
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(when).unwrap();
        }
    }
}

/// Archives GNU tar and gzip wrote, made once: `archives/pkg.tar` and
/// `archives/pkg.tgz` of a small tree (a file, a subdirectory, a symlink),
/// with fixed times and owners, and `archives/note.txt.gz`.
fn archives() -> &'static [(String, Vec<u8>)] {
    static ARCHIVES: std::sync::OnceLock<Vec<(String, Vec<u8>)>> = std::sync::OnceLock::new();
    ARCHIVES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("pkg/sub")).unwrap();
        std::fs::write(d.join("pkg/a.txt"), "alpha\n").unwrap();
        std::fs::write(d.join("pkg/sub/b.txt"), "beta\nTODO: gamma\n").unwrap();
        std::os::unix::fs::symlink("a.txt", d.join("pkg/link")).unwrap();
        std::fs::write(d.join("note.txt"), "a note\n").unwrap();
        let run = |line: &str| {
            let ok = Command::new("sh")
                .args(["-c", line])
                .current_dir(d)
                .status()
                .unwrap()
                .success();
            assert!(ok, "{line}");
        };
        run(
            "tar --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner \
             --mode=go-w -cf pkg.tar pkg",
        );
        run("gzip -n -c pkg.tar > pkg.tgz && gzip -n note.txt");
        ["pkg.tar", "pkg.tgz", "note.txt.gz"]
            .into_iter()
            .map(|name| {
                (
                    format!("archives/{name}"),
                    std::fs::read(d.join(name)).unwrap(),
                )
            })
            .collect()
    })
}

/// How a file compares: an archive by the names it holds (GNU tar walks
/// directories in the order the file system gives), a gzip file by what it
/// decompresses to (another deflate writes other bytes), anything else by
/// its bytes.
fn contents(path: &Path) -> String {
    let name = path.to_string_lossy();
    let read_by = |program: &str, args: &[&str]| {
        let out = Command::new(program).args(args).arg(path).output().unwrap();
        assert!(out.status.success(), "{program} {name}");
        out.stdout
    };
    if [".tar", ".tgz", ".tar.gz"]
        .iter()
        .any(|s| name.ends_with(s))
    {
        let listing = read_by("tar", &["-tf"]);
        let mut names: Vec<&[u8]> = listing.split(|b| *b == b'\n').collect();
        names.sort();
        return format!(
            "tar of {:?}",
            names
                .iter()
                .map(|n| String::from_utf8_lossy(n))
                .collect::<Vec<_>>()
        );
    }
    if name.ends_with(".gz") {
        return format!("gzip of {:?}", read_by("gzip", &["-dc"]));
    }
    format!("{:?}", std::fs::read(path).unwrap())
}

struct Observed {
    code: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    tree: std::collections::BTreeMap<std::path::PathBuf, String>,
}

fn tree(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, String> {
    let mut out = std::collections::BTreeMap::new();
    use std::os::unix::fs::PermissionsExt;
    for entry in walk(dir) {
        let rel = entry.strip_prefix(dir).unwrap().to_path_buf();
        let meta = std::fs::symlink_metadata(&entry).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        let what = if meta.is_symlink() {
            format!("link -> {}", std::fs::read_link(&entry).unwrap().display())
        } else if meta.is_dir() {
            format!("dir {mode:o}")
        } else {
            format!("file {mode:o} {}", contents(&entry))
        };
        out.insert(rel, what);
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            all.extend(walk(&path));
        }
        all.push(path);
    }
    all
}

/// `bytes` with the fixture copy's own path (as given, and canonical)
/// replaced by `<ROOT>`, so that the two copies compare equal where a tool
/// prints absolute paths.
fn rooted(bytes: Vec<u8>, root: &Root) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    let mut changed = false;
    for dir in [&root.given, &root.canonical] {
        let dir = dir.to_string_lossy();
        if text.contains(dir.as_ref()) {
            text = text.replace(dir.as_ref(), "<ROOT>");
            changed = true;
        }
    }
    if changed { text.into_bytes() } else { bytes }
}

fn observe(mut cmd: Command, root: &Root, stdin: Option<&str>) -> Observed {
    use std::io::Write;
    use std::process::Stdio;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    Observed {
        code: out.status.code().unwrap_or(-1),
        stdout: rooted(out.stdout, root),
        stderr: rooted(out.stderr, root),
        tree: tree(&root.canonical),
    }
}

fn gnu_available(tool: &str) -> bool {
    crate::support::command("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Each line as a JSON value, without what depends on the run.
fn json_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    fn strip(value: &mut serde_json::Value) {
        if let serde_json::Value::Object(map) = value {
            map.remove("stats");
            map.remove("elapsed_total");
            map.values_mut().for_each(strip);
        }
    }
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|line| {
            let mut value =
                serde_json::from_str(line).unwrap_or(serde_json::Value::String(line.into()));
            strip(&mut value);
            value
        })
        .collect()
}

fn sorted_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    lines.sort();
    lines
}

/// Where a case's root lies.
#[derive(Clone, Copy, Debug)]
enum Place {
    /// Under /tmp.
    Tmp,
    /// Under /var/tmp.
    VarTmp,
    /// Three directories deep.
    Deep,
    /// In a directory whose name has a space.
    Space,
    /// In a directory whose name has non-ASCII letters.
    NonAscii,
    /// Reached through a symlink (the root given as the link's path).
    ThroughSymlink,
}

/// One fixture copy's root: the path given as `--root` (or the working
/// directory), and what it resolves to. Removed when dropped.
struct Root {
    _base: tempfile::TempDir,
    given: std::path::PathBuf,
    canonical: std::path::PathBuf,
}

impl Root {
    fn at(place: Place) -> Root {
        let base = match place {
            Place::VarTmp => tempfile::tempdir_in("/var/tmp").unwrap(),
            _ => tempfile::tempdir().unwrap(),
        };
        let dir = base.path().canonicalize().unwrap();
        let given = match place {
            Place::Tmp | Place::VarTmp => dir,
            Place::Deep => dir.join("one/two/three"),
            Place::Space => dir.join("my project"),
            Place::NonAscii => dir.join("prøjekt-ünï"),
            Place::ThroughSymlink => {
                std::fs::create_dir(dir.join("real")).unwrap();
                std::os::unix::fs::symlink("real", dir.join("link")).unwrap();
                dir.join("link")
            }
        };
        std::fs::create_dir_all(&given).unwrap();
        fixture(&given);
        Root {
            canonical: given.canonicalize().unwrap(),
            given,
            _base: base,
        }
    }
}

#[test]
fn built_in_tools_match_gnu_under_tmp() {
    conform(Place::Tmp);
}

#[test]
fn built_in_tools_match_gnu_under_var_tmp() {
    conform(Place::VarTmp);
}

#[test]
fn built_in_tools_match_gnu_three_directories_deep() {
    conform(Place::Deep);
}

#[test]
fn built_in_tools_match_gnu_in_a_path_with_a_space() {
    conform(Place::Space);
}

#[test]
fn built_in_tools_match_gnu_in_a_non_ascii_path() {
    conform(Place::NonAscii);
}

#[test]
fn built_in_tools_match_gnu_with_the_root_through_a_symlink() {
    conform(Place::ThroughSymlink);
}

fn conform(place: Place) {
    assert!(CASES.len() >= 150, "{} cases", CASES.len());
    let mut failures = Vec::new();
    let mut compared = 0;
    for (stdin, compare, argv) in CASES {
        let tool = argv[0];
        if !gnu_available(tool) {
            skip(&format!("no GNU {tool}"));
            continue;
        }
        let (ours_root, gnu_root) = (Root::at(place), Root::at(place));
        let at = |root: &Root| -> Vec<String> {
            let given = root.given.to_str().unwrap();
            argv.iter().map(|a| a.replace("<ROOT>", given)).collect()
        };
        let mut ours = cordon();
        ours.arg("run")
            .arg("--root")
            .arg(&ours_root.given)
            .arg("--cache-dir")
            .arg(cache_dir())
            .arg("--rules")
            .arg(allow_rm_rules())
            .arg("--")
            .args(at(&ours_root));
        let ours = observe(ours, &ours_root, *stdin);
        let mut gnu = Command::new(tool);
        gnu.args(&at(&gnu_root)[1..])
            .current_dir(&gnu_root.given)
            .env("PWD", &gnu_root.given)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LC_ALL", "C")
            .env("TZ", "UTC");
        let gnu = observe(gnu, &gnu_root, *stdin);
        compared += 1;
        let mut diffs = Vec::new();
        if ours.code != gnu.code {
            diffs.push(format!("exit {} vs GNU {}", ours.code, gnu.code));
        }
        let stdout_same = match compare {
            Sorted => sorted_lines(&ours.stdout) == sorted_lines(&gnu.stdout),
            Code => true,
            Json => json_lines(&ours.stdout) == json_lines(&gnu.stdout),
            Out | All => ours.stdout == gnu.stdout,
        };
        if !stdout_same {
            diffs.push(format!(
                "stdout:\n  ours: {:?}\n  GNU:  {:?}",
                String::from_utf8_lossy(&ours.stdout),
                String::from_utf8_lossy(&gnu.stdout)
            ));
        }
        if *compare == All && ours.stderr != gnu.stderr {
            diffs.push(format!(
                "stderr:\n  ours: {:?}\n  GNU:  {:?}",
                String::from_utf8_lossy(&ours.stderr),
                String::from_utf8_lossy(&gnu.stderr)
            ));
        }
        if ours.tree != gnu.tree {
            diffs.push("the tree afterwards differs".to_string());
        }
        if !diffs.is_empty() {
            failures.push(format!("{}: {}", argv.join(" "), diffs.join("; ")));
            if std::env::var_os("CONFORMANCE_DEBUG").is_some() {
                eprintln!("ours tree: {:?}\nGNU tree:  {:?}", ours.tree, gnu.tree);
            }
        }
    }
    assert!(
        compared >= 150,
        "only {compared} cases had a GNU tool to compare with"
    );
    assert!(
        failures.is_empty(),
        "{:?}: {} of {compared} cases differ:\n{}",
        place,
        failures.len(),
        failures.join("\n")
    );
}
