//! Build script: records the git commit the binary is built from (`gatehouse --version`).
//! `GATEHOUSE_COMMIT` overrides it (a build from a source tarball, the Docker image); without
//! git and without it the commit is `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok().filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=GATEHOUSE_COMMIT");
    let commit = match std::env::var("GATEHOUSE_COMMIT").ok().filter(|c| !c.is_empty()) {
        Some(c) => c,
        None => {
            // Built again when HEAD moves: HEAD itself, the branch it names, packed refs.
            let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
            watched.extend(git(&["rev-parse", "--symbolic-full-name", "HEAD"]).filter(|r| r.starts_with("refs/")));
            let paths = watched.iter().filter_map(|p| git(&["rev-parse", "--git-path", p]));
            for p in paths.filter(|p| std::path::Path::new(p).exists()) {
                println!("cargo:rerun-if-changed={p}");
            }
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo:rustc-env=GATEHOUSE_COMMIT={commit}");
}
