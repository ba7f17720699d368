//! The images of the multi-host tests, built here and never pulled:
//!
//! - orch's own, by `deploy/docker/build-local.sh` from the binaries under
//!   test (`ORCH_BINARIES`: the dev profile the tests were built with);
//! - the same plus a static busybox, so that the hosts' flows can be shell
//!   scripts and the tests can look inside;
//! - PostgreSQL's, by `deploy/docker/build-postgres-local.sh` from the
//!   host's PostgreSQL.
//!
//! Each tag carries a hash of what goes into the image, so a rerun with the
//! same binaries builds nothing; tags of older builds are removed after a
//! day (when no container uses them).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// Image repositories this module tags (and prunes).
const REPOSITORIES: [&str; 3] = ["orch-e2e-orch", "orch-e2e-hosts", "orch-e2e-postgres"];

/// Tags of the built images.
#[derive(Debug)]
pub struct Images {
    /// orch as `deploy/docker/build-local.sh` builds it.
    pub orch: String,
    /// `orch` plus busybox at `/bin`: the hosts of the partition tests.
    pub hosts: String,
    /// PostgreSQL from the host's binaries.
    pub postgres: String,
}

/// The images, built once per test process (or found from an earlier run).
pub fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(build)
}

fn build() -> Images {
    let root = workspace_root();
    let orch = crate::binary("orch");
    let sandbox = crate::binary("orch-sandbox");
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "/bin/busybox is missing: install it with `apt-get install -y busybox-static`"
    );
    let scripts = root.join("deploy/docker");
    let orch_hash = hash(&[
        &orch,
        &sandbox,
        &scripts.join("build-local.sh"),
        &scripts.join("Dockerfile.local"),
    ]);
    let orch_tag = format!("orch-e2e-orch:{orch_hash}");
    if !exists(&orch_tag) {
        let bin_dir = orch.parent().expect("the binaries' folder");
        run(Command::new(scripts.join("build-local.sh"))
            .arg(&orch_tag)
            .env("ORCH_BINARIES", bin_dir));
    }
    let hosts_tag = format!(
        "orch-e2e-hosts:{}",
        hash_text(&[&orch_hash, HOSTS_DOCKERFILE])
    );
    if !exists(&hosts_tag) {
        let context = tempfile::tempdir().expect("build context");
        std::fs::copy(busybox, context.path().join("busybox")).expect("copy busybox");
        let dockerfile = format!("FROM {orch_tag}\n{HOSTS_DOCKERFILE}");
        std::fs::write(context.path().join("Dockerfile"), dockerfile).expect("Dockerfile");
        run(Command::new("docker")
            .args(["build", "-q", "-t", &hosts_tag])
            .arg(context.path()));
    }
    let postgres_bin = postgres_bin();
    let postgres_hash = hash(&[
        &scripts.join("build-postgres-local.sh"),
        &postgres_bin.join("postgres"),
        busybox,
    ]);
    let postgres_tag = format!("orch-e2e-postgres:{postgres_hash}");
    if !exists(&postgres_tag) {
        run(Command::new(scripts.join("build-postgres-local.sh"))
            .arg(&postgres_tag)
            .env("PG_BIN", &postgres_bin));
    }
    prune(&[&orch_tag, &hosts_tag, &postgres_tag]);
    Images {
        orch: orch_tag,
        hosts: hosts_tag,
        postgres: postgres_tag,
    }
}

/// What the hosts image adds to orch's: busybox's applets at `/bin`.
const HOSTS_DOCKERFILE: &str = "USER 0:0\nCOPY busybox /bin/busybox\n\
    RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nUSER 10001:10001\n";

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace")
        .to_path_buf()
}

/// The newest Debian PostgreSQL's `bin` folder (or `ORCH_TEST_PG_BIN`), as
/// the PostgreSQL suites find it.
fn postgres_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("ORCH_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
        .expect("no PostgreSQL in /usr/lib/postgresql: apt-get install postgresql")
}

/// The first 16 hex digits of the SHA-256 of the files' contents, in order.
fn hash(files: &[&Path]) -> String {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    for file in files {
        let mut reader = std::fs::File::open(file)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", file.display()));
        loop {
            let read = reader.read(&mut buffer).expect("read");
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
        hasher.update(b"\0");
    }
    hex16(hasher)
}

/// [`hash`] of texts.
fn hash_text(texts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for text in texts {
        hasher.update(text.as_bytes());
        hasher.update(b"\0");
    }
    hex16(hasher)
}

fn hex16(hasher: Sha256) -> String {
    hasher.finalize()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whether the engine has image `tag`.
fn exists(tag: &str) -> bool {
    crate::docker::docker(&["image", "inspect", "--format", "{{.Id}}", tag])
        .status
        .success()
}

/// Runs a build step; panics with its output if it fails.
fn run(command: &mut Command) {
    let output = command.output().expect("start the image build");
    assert!(
        output.status.success(),
        "building an image failed ({command:?}):\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Removes tags of [`REPOSITORIES`] other than `keep` made more than a day
/// ago; an image a container still uses stays.
fn prune(keep: &[&str]) {
    let day_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |now| now.as_secs().saturating_sub(24 * 3600));
    for repository in REPOSITORIES {
        let listed = crate::docker::docker(&[
            "image",
            "ls",
            repository,
            "--format",
            "{{.Repository}}:{{.Tag}} {{.CreatedAt}}",
        ]);
        for line in String::from_utf8_lossy(&listed.stdout).lines() {
            let Some((tag, created)) = line.split_once(' ') else {
                continue;
            };
            let old = chrono::DateTime::parse_from_str(
                created.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == ' '),
                "%Y-%m-%d %H:%M:%S %z",
            )
            .is_ok_and(|created| (created.timestamp() as u64) < day_ago);
            if old && !keep.contains(&tag) {
                let _ = crate::docker::docker(&["image", "rm", tag]);
            }
        }
    }
}
