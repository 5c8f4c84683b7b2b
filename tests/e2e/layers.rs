//! The layering of README's Development section, kept true: every `crate::x` a source file names
//! points to its own layer or one below, and the modules' imports form no cycle. A new top-level
//! module must be given a layer here (and in README's picture).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top to bottom. A module may use modules of its own layer (without a cycle) or of any below.
const LAYERS: &[(&str, &[&str])] = &[
    ("composition root", &["server"]),
    ("edges", &["proxy", "auth_router", "api", "portal", "console", "cli", "ops", "control"]),
    ("what the API and the portal share", &["web"]),
    ("shared state", &["state"]),
    ("flows", &["flows"]),
    ("the request decision", &["authz"]),
    ("runtime (configuration in effect)", &["runtime"]),
    (
        "services",
        &[
            "replica",
            "pats",
            "sessions",
            "appkeys",
            "notify",
            "directory",
            "identity",
            "audit",
            "routes",
            "redirect",
            "ratelimit",
            "policy",
            "tokens",
        ],
    ),
    ("store", &["store"]),
    ("foundations", &["config", "address", "net", "metrics", "clock", "catalogue", "domain"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/flows/otp.rs` → `flows`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
    first.trim_end_matches(".rs").to_string()
}

/// Every `crate::name` a text mentions (imports and qualified paths alike).
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `gatehouse_crate::` or such: not ours
        }
        let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
        if !name.is_empty() {
            refs.insert(name);
        }
    }
    refs
}

/// module → the modules it names, with one file that names each (for the message).
fn graph() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for file in files {
        let module = module_of(&src, &file);
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let entry = graph.entry(module.clone()).or_default();
        for target in crate_refs(&text) {
            if target != module {
                entry.entry(target).or_insert_with(|| file.clone());
            }
        }
    }
    graph
}

#[test]
fn every_module_has_a_layer() {
    let missing: Vec<String> = graph().keys().filter(|m| layer_of(m).is_none()).cloned().collect();
    assert!(missing.is_empty(), "give these modules a layer in tests/layers.rs and README: {missing:?}");
}

#[test]
fn no_import_points_up() {
    let mut upward = vec![];
    for (module, targets) in graph() {
        let Some(from) = layer_of(&module) else { continue };
        for (target, file) in targets {
            let Some(to) = layer_of(&target) else { continue };
            if to < from {
                upward.push(format!(
                    "{} names crate::{target} ({}) from {module} ({})",
                    file.display(),
                    LAYERS[to].0,
                    LAYERS[from].0
                ));
            }
        }
    }
    assert!(upward.is_empty(), "imports pointing up the layers:\n{}", upward.join("\n"));
}

#[test]
fn the_modules_form_no_cycle() {
    let graph = graph();
    // Depth-first search for a back edge; the path found is reported.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeMap<String, PathBuf>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for next in graph.get(m).into_iter().flat_map(|t| t.keys()) {
            if let Some(c) = visit(next, graph, done, path) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(cycle) = visit(m, &graph, &mut done, &mut vec![]) {
            panic!("the modules import each other in a cycle: {}", cycle.join(" → "));
        }
    }
}

/// The JSON API and the portal stand side by side: neither names the other (what both need is
/// in `web`, below both; `auth_router` merges them).
#[test]
fn the_api_and_the_portal_do_not_import_each_other() {
    let graph = graph();
    for (from, to) in [("api", "portal"), ("portal", "api")] {
        let file = graph.get(from).and_then(|t| t.get(to));
        assert!(file.is_none(), "{from} names crate::{to} in {}", file.unwrap().display());
    }
}

#[test]
fn the_scanner_sees_imports_and_paths() {
    let refs = crate_refs("use crate::store::Store;\nlet x = crate::clock::now_secs();\nmy_crate::nope");
    assert_eq!(refs.into_iter().collect::<Vec<_>>(), ["clock", "store"]);
}
