//! The workspace's layout holds: no two modules of a crate import each other
//! (directly or around a circle), every source file says what it is in a `//!`
//! line, and no source file outside tests grows past [`SOURCE_LINES_MAX`].
//!
//! The module graph is read from the sources as text: an edge runs from a
//! module to every module of the same crate it names through `crate::…` or
//! `super::…`, or a child module through `use child::…` (test code — `tests.rs` files and everything after a file's
//! `#[cfg(test)]` — is left out, as are `pub use` re-exports of whole modules).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest source file outside tests, in lines.
const SOURCE_LINES_MAX: usize = 800;

/// The crates whose sources are checked.
const CRATES: &[&str] = &["core", "gen", "node", "hub", "proto"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn is_test_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "tests.rs")
        || path.components().any(|c| c.as_os_str() == "tests")
}

/// `src/a/b.rs` and `src/a/b/mod.rs` → `["a", "b"]`; `src/lib.rs`, `src/main.rs` → `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("a file under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file without its test module and comments.
fn code_lines(text: &str) -> Vec<&str> {
    text.lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect()
}

/// Every path `crate::a::b…` or `super::…` named in `line`, resolved against `me`.
fn named_paths(line: &str, me: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (start, _) in line
        .match_indices("crate::")
        .chain(line.match_indices("super::"))
    {
        if start > 0 {
            let before = line.as_bytes()[start - 1];
            if before.is_ascii_alphanumeric() || before == b'_' || before == b':' {
                continue;
            }
        }
        let rest = &line[start..];
        let words: Vec<&str> = rest
            .split("::")
            .map(|w| {
                w.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or("")
            })
            .take_while(|w| !w.is_empty())
            .collect();
        let mut path: Vec<String> = Vec::new();
        let mut words = words.into_iter().peekable();
        if words.peek() == Some(&"crate") {
            words.next();
        } else {
            path = me.to_vec();
            while words.peek() == Some(&"super") {
                words.next();
                path.pop();
            }
        }
        path.extend(words.map(str::to_owned));
        out.push(path);
    }
    out
}

#[test]
fn no_module_imports_another_that_imports_it_back() {
    let mut circles = Vec::new();
    for krate in CRATES {
        let src = workspace().join(krate).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let modules: BTreeMap<Vec<String>, PathBuf> = files
            .iter()
            .filter(|f| !is_test_file(f))
            .map(|f| (module_path(&src, f), f.clone()))
            .collect();
        let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for (me, file) in &modules {
            let text = std::fs::read_to_string(file).expect("read a source file");
            for line in code_lines(&text) {
                if line.trim_start().starts_with("pub use") && line.contains("::{") {
                    // A re-export of names for users of the module: no dependency of its own code.
                    continue;
                }
                let mut paths = named_paths(line, me);
                // `use child::…`: a path relative to this module.
                if let Some(rest) = line.trim_start().strip_prefix("use ") {
                    let first: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    let mut child = me.clone();
                    child.push(first);
                    if modules.contains_key(&child) {
                        paths.push(child);
                    }
                }
                for path in paths {
                    // The longest module the path names.
                    let target = (0..=path.len())
                        .rev()
                        .map(|n| path[..n].to_vec())
                        .find(|p| modules.contains_key(p));
                    if let Some(target) = target {
                        // A module may use its own items; the crate root only
                        // declares and re-exports modules.
                        if &target == me || target.is_empty() {
                            continue;
                        }
                        edges.entry(me.clone()).or_default().insert(target);
                    }
                }
            }
        }
        // Depth-first search for a path back to where it started.
        for start in modules.keys() {
            let mut stack = vec![(start.clone(), vec![start.clone()])];
            let mut seen = BTreeSet::new();
            while let Some((at, trail)) = stack.pop() {
                for next in edges.get(&at).into_iter().flatten() {
                    if next == start && trail.len() > 1 {
                        let names: Vec<String> = trail
                            .iter()
                            .map(|m| format!("{krate}::{}", m.join("::")))
                            .collect();
                        circles.push(names.join(" -> "));
                    } else if seen.insert(next.clone()) {
                        let mut t = trail.clone();
                        t.push(next.clone());
                        stack.push((next.clone(), t));
                    }
                }
            }
        }
    }
    circles.sort();
    circles.dedup();
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn every_source_file_says_what_it_is_and_stays_short() {
    let mut problems = Vec::new();
    for krate in CRATES.iter().chain(&["tests"]) {
        let mut files = Vec::new();
        rust_files(&workspace().join(krate), &mut files);
        for file in files {
            if file.components().any(|c| c.as_os_str() == "target") {
                continue;
            }
            let text = std::fs::read_to_string(&file).expect("read a source file");
            if !text.starts_with("//!") {
                problems.push(format!("{}: no //! line at the top", file.display()));
            }
            let lines = code_lines(&text).len();
            if !is_test_file(&file) && lines > SOURCE_LINES_MAX {
                problems.push(format!(
                    "{}: {lines} lines outside tests (at most {SOURCE_LINES_MAX})",
                    file.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
