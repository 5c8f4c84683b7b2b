//! The project documents its own contract: README and docs/ link only to files (and headings)
//! that exist, code cites docs/ sections that exist, and nothing cites the external contract file or
//! seed material that is not in the repository. Reads files only; starts no process.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// README.md and every docs/*.md.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("a readable docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// Every file under `dir` (recursively) whose name ends with one of `exts`.
fn source_files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries {
        let p = e.expect("a readable directory entry").path();
        if p.is_dir() {
            // Installed npm packages (tests/browser/node_modules) are not ours.
            if p.file_name().is_some_and(|n| n == "node_modules") {
                continue;
            }
            source_files(&p, exts, out);
        } else if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| exts.iter().any(|x| n.ends_with(x))) {
            out.push(p);
        }
    }
}

/// The lines of a markdown text outside fenced code blocks, with inline code spans removed.
fn prose_lines(text: &str) -> Vec<(usize, String)> {
    let mut fenced = false;
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join("");
        out.push((i + 1, prose));
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// The targets of the `[text](target)` links of a markdown text, with their line numbers.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = vec![];
    for (n, line) in prose_lines(text) {
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((n, after[..end].trim().to_string()));
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_in_readme_and_docs_resolves() {
    let mut broken = vec![];
    for file in markdown_files() {
        let text = read(&file);
        let dir = file.parent().expect("a file has a directory");
        for (line, target) in links(&text) {
            if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
                continue;
            }
            // The console's screenshots are written by its browser tests (tests/e2e/console.rs).
            if target.starts_with("target/screenshots/") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let resolved = if path.is_empty() { file.clone() } else { dir.join(path) };
            let at = format!("{}:{line}: {target}", file.strip_prefix(root()).unwrap_or(&file).display());
            if !resolved.exists() {
                broken.push(format!("{at}: no such file"));
                continue;
            }
            if let Some(a) = anchor.filter(|_| resolved.extension().is_some_and(|e| e == "md")) {
                if !anchors(&read(&resolved)).contains(a) {
                    broken.push(format!("{at}: no such heading"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Citations like `docs/http-api.md §5` name a file of docs/ and a numbered `## 5.` section of it.
#[test]
fn code_cites_docs_sections_that_exist() {
    let mut files = vec![];
    for dir in ["src", "tests", "scripts", "examples", "benches"] {
        source_files(&root().join(dir), &[".rs", ".js", ".yaml", ".yml", ".conf", ".sh", "Caddyfile"], &mut files);
    }
    let mut bad = vec![];
    let mut cited = 0;
    for file in &files {
        let text = read(file);
        for (i, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(at) = rest.find("docs/") {
                let tail = &rest[at + 5..];
                let name: String =
                    tail.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.').collect();
                rest = &tail[name.len()..];
                let name = name.trim_end_matches('.');
                if !name.ends_with(".md") {
                    continue;
                }
                cited += 1;
                let at = format!("{}:{}", file.strip_prefix(root()).unwrap_or(file).display(), i + 1);
                let doc = root().join("docs").join(name);
                if !doc.exists() {
                    bad.push(format!("{at}: docs/{name} does not exist"));
                    continue;
                }
                let Some(section) = rest.strip_prefix(" §") else { continue };
                let n: String = section.chars().take_while(char::is_ascii_digit).collect();
                if !read(&doc).lines().any(|l| l.starts_with(&format!("## {n}. "))) {
                    bad.push(format!("{at}: docs/{name} has no section {n}"));
                }
            }
        }
    }
    assert!(cited > 0, "no docs/ citation found: is the scan looking at the right files?");
    assert!(bad.is_empty(), "citations of missing docs:\n{}", bad.join("\n"));
}

/// Nothing cites the external contract file or seed material, which are not in the repository.
#[test]
fn nothing_cites_material_outside_the_repository() {
    let needles = [concat!("API", ".md"), concat!("seeds", "/"), concat!("seed ", "0")];
    let mut files = markdown_files();
    for dir in ["src", "tests", "scripts", "examples", "benches", "policies"] {
        source_files(
            &root().join(dir),
            &[".rs", ".js", ".yaml", ".yml", ".conf", ".sh", ".md", "Caddyfile"],
            &mut files,
        );
    }
    files.push(root().join("config.yaml"));
    let mut found = vec![];
    for file in &files {
        for (i, line) in read(file).lines().enumerate() {
            if let Some(n) = needles.iter().find(|n| line.contains(*n)) {
                found.push(format!("{}:{}: cites `{n}`", file.strip_prefix(root()).unwrap_or(file).display(), i + 1));
            }
        }
    }
    assert!(found.is_empty(), "cite docs/ instead:\n{}", found.join("\n"));
}

/// The LICENSE file holds the licence Cargo.toml declares, in full.
#[test]
fn license_matches_cargo_toml() {
    let manifest = read(&root().join("Cargo.toml"));
    assert!(manifest.lines().any(|l| l.trim() == r#"license = "Apache-2.0""#), "Cargo.toml declares Apache-2.0");
    let license = read(&root().join("LICENSE"));
    assert!(license.contains("Apache License") && license.contains("Version 2.0, January 2004"));
    assert!(license.contains("END OF TERMS AND CONDITIONS"), "the full text, not a pointer to it");
}

#[test]
fn slugs_follow_github() {
    assert_eq!(slug(" 5. Backups of the store and the signing key"), "5-backups-of-the-store-and-the-signing-key");
    assert_eq!(
        slug(" The forward-auth contract: what the proxy in front must set"),
        "the-forward-auth-contract-what-the-proxy-in-front-must-set"
    );
    assert_eq!(slug(" Behind Traefik, nginx or Caddy (forward auth)"), "behind-traefik-nginx-or-caddy-forward-auth");
}
