//! No arrow points back up: the application layer (`ops/`) and the store
//! know neither transport. Read from the sources, so that a `use tonic` or a
//! call into a REST or gRPC handler fails here, not in review.

use std::path::{Path, PathBuf};

/// What the application layer and the store may not name.
const FORBIDDEN: [&str; 6] = [
    "use tonic",
    "use axum",
    "tonic::",
    "axum::",
    "crate::api",
    "crate::grpc",
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// `file:line: text` for every line of code (comments left out) of `file`
/// naming one of `forbidden`.
fn lines_naming(file: &Path, forbidden: &[&str]) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("a source file");
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        if forbidden.iter().any(|forbidden| code.contains(forbidden)) {
            found.push(format!(
                "{}:{}: {}",
                file.display(),
                number + 1,
                line.trim()
            ));
        }
    }
    found
}

/// `file:line: text` for every line of code (comments left out) naming a
/// forbidden path.
fn back_edges(dir: &Path) -> Vec<String> {
    rust_files(dir)
        .iter()
        .flat_map(|file| lines_naming(file, &FORBIDDEN))
        .collect()
}

#[test]
fn the_application_layer_and_the_store_know_no_transport() {
    let server = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ops = server.join("src/ops");
    let store = server.join("../orch-store/src");
    assert!(rust_files(&ops).len() > 10 && rust_files(&store).len() > 10);
    for dir in [ops, store] {
        let found = back_edges(&dir);
        assert!(
            found.is_empty(),
            "{} must not know tonic, axum or the transports (move the mapping to the \
             transport, or the type to ops/):\n{}",
            dir.display(),
            found.join("\n")
        );
    }
}

#[test]
fn a_back_edge_is_found() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(
        dir.path().join("a.rs"),
        "// use tonic in a comment is fine\nuse crate::grpc::x;\n",
    )
    .expect("written");
    let found = back_edges(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].ends_with(":2: use crate::grpc::x;"), "{found:?}");
}

#[test]
fn the_server_state_holds_only_generic_parts() {
    let state = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/state.rs");
    let found = lines_naming(
        &state,
        &["automations", "maintenance", "Wakers", "MaintenanceTotals"],
    );
    assert!(
        found.is_empty(),
        "AppState must not know the automation engine or the maintenance loop: keep \
         their state in a type of their module, reached with AppState::part:\n{}",
        found.join("\n")
    );
}
