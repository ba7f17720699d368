//! Records the git commit `orch` is built from, for `orch --version`.
//!
//! `ORCH_GIT_COMMIT` set at build time wins (packagers building from a
//! tarball can name the commit); otherwise `git` is asked; without `git` or
//! outside a repository (a tarball) the commit is "unknown" and the build
//! goes on.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=ORCH_GIT_COMMIT");
    // Build again when HEAD moves: a checkout changes HEAD, a commit the branch's ref.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        if let (Some(common), Some(reference)) = (
            git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]),
            git(&["symbolic-ref", "-q", "HEAD"]),
        ) {
            let path: PathBuf = [common.as_str(), reference.as_str()].iter().collect();
            println!("cargo:rerun-if-changed={}", path.display());
            println!("cargo:rerun-if-changed={common}/packed-refs");
        }
    }
    let commit = match std::env::var("ORCH_GIT_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => commit.trim().to_owned(),
        // A tarball unpacked inside some other repository is not a checkout of orch.
        _ if git(&["ls-files", "--error-unmatch", "Cargo.toml"]).is_none() => "unknown".to_owned(),
        _ => git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned()),
    };
    println!("cargo:rustc-env=ORCH_GIT_COMMIT={commit}");
}
