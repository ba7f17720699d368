//! `--background` for `orch server start` and `orch up`, `orch server stop`
//! and `orch down`: the command runs again as a detached process (its own
//! session) logging to `$ORCH_HOME/NAME.log`, its pid in `$ORCH_HOME/NAME.pid`;
//! the starting command returns once the server answers `/readyz`.

use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::Context;
use crate::cli::StopArgs;

/// A command that can run in the background.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// `server` or `up`: names the pid and log files.
    pub name: &'static str,
    /// The stdout line announcing the URL, followed by it.
    ready_line: &'static str,
    /// How long starting may take (`orch up` builds the flow binaries first).
    start_timeout: Duration,
    /// The command that stops it.
    stop_command: &'static str,
}

/// `orch server start --background`.
pub const SERVER: Service = Service {
    name: "server",
    ready_line: "orch server listening on ",
    start_timeout: Duration::from_secs(120),
    stop_command: "orch server stop",
};

/// `orch up --background`.
pub const UP: Service = Service {
    name: "up",
    ready_line: "orch is up: dashboard ",
    start_timeout: Duration::from_secs(1800),
    stop_command: "orch down",
};

/// The pid file's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PidFile {
    pid: i32,
    /// The server's URL, once known.
    url: Option<String>,
    log: PathBuf,
}

impl Service {
    fn pid_path(&self, home: &Path) -> PathBuf {
        home.join(format!("{}.pid", self.name))
    }

    fn log_path(&self, home: &Path) -> PathBuf {
        home.join(format!("{}.log", self.name))
    }
}

/// Starts this very command line again, without `--background`, detached;
/// returns once its server is ready.
pub fn start(context: &Context, service: Service) -> anyhow::Result<()> {
    let home = &context.settings.home.value;
    std::fs::create_dir_all(home)
        .with_context(|| format!("cannot create the orch home folder {}", home.display()))?;
    let pid_path = service.pid_path(home);
    if let Some(running) = read_pid_file(&pid_path)? {
        if is_alive(running.pid) {
            anyhow::bail!(
                "orch {} is already running in the background (pid {}{}); stop it with `{}`",
                service.name,
                running.pid,
                running
                    .url
                    .map(|url| format!(", {url}"))
                    .unwrap_or_default(),
                service.stop_command
            );
        }
        let _ = std::fs::remove_file(&pid_path);
    }
    let log_path = service.log_path(home);
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open the log file {}", log_path.display()))?;
    let offset = log.seek(SeekFrom::End(0))?;
    writeln!(
        log,
        "--- orch {} starting in the background at {} ---",
        service.name,
        chrono::Utc::now().to_rfc3339()
    )?;
    let exe = std::env::current_exe().context("cannot find the orch executable")?;
    let args: Vec<OsString> = std::env::args_os()
        .skip(1)
        .filter(|arg| arg != "--background")
        .collect();
    let mut command = Command::new(exe);
    command
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; the child leaves the terminal's
    // session so that closing the terminal or Ctrl-C does not reach it.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    let mut child = command
        .spawn()
        .context("cannot start orch in the background")?;
    let pid = child.id() as i32;
    let mut record = PidFile {
        pid,
        url: None,
        log: log_path.clone(),
    };
    write_pid_file(&pid_path, &record)?;

    let deadline = Instant::now() + service.start_timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            let _ = std::fs::remove_file(&pid_path);
            anyhow::bail!(
                "orch {} stopped while starting ({status}); its log {} says:\n{}",
                service.name,
                log_path.display(),
                tail(&log_path, offset, 20)
            );
        }
        if let Some(url) = announced_url(&log_path, offset, service.ready_line)
            && http_status(&url, "/readyz") == Some(200)
        {
            record.url = Some(url.clone());
            write_pid_file(&pid_path, &record)?;
            println!(
                "orch {} is running in the background (pid {pid}) at {url}",
                service.name
            );
            println!("Logs: {}", log_path.display());
            println!("Stop it with: {}", service.stop_command);
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            let _ = std::fs::remove_file(&pid_path);
            anyhow::bail!(
                "orch {} was not ready within {:?}, so it was stopped; its log {} says:\n{}",
                service.name,
                service.start_timeout,
                log_path.display(),
                tail(&log_path, offset, 20)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops the background process of `service` with SIGTERM and waits until it is gone.
pub async fn stop(context: &Context, service: Service, args: &StopArgs) -> anyhow::Result<()> {
    let home = &context.settings.home.value;
    let pid_path = service.pid_path(home);
    let Some(running) = read_pid_file(&pid_path)? else {
        anyhow::bail!(
            "no orch {} was started in the background with this ORCH_HOME ({} does not exist); \
             a foreground one stops with Ctrl-C, a systemd one with `systemctl stop`",
            service.name,
            pid_path.display()
        );
    };
    if !is_alive(running.pid) || !is_orch(running.pid) {
        std::fs::remove_file(&pid_path)?;
        println!(
            "orch {} (pid {}) was not running; removed its stale pid file",
            service.name, running.pid
        );
        return Ok(());
    }
    kill(Pid::from_raw(running.pid), Signal::SIGTERM)
        .with_context(|| format!("cannot signal pid {}", running.pid))?;
    let timeout = Duration::from_secs(args.timeout_seconds);
    let deadline = Instant::now() + timeout;
    while is_alive(running.pid) {
        if Instant::now() > deadline {
            anyhow::bail!(
                "orch {} (pid {}) did not stop within {timeout:?}; it may still be finishing; \
                 see {} (`kill -9 {}` stops it at once)",
                service.name,
                running.pid,
                running.log.display(),
                running.pid
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_file(&pid_path);
    println!("Stopped orch {} (pid {})", service.name, running.pid);
    Ok(())
}

fn read_pid_file(path: &Path) -> anyhow::Result<Option<PidFile>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(serde_json::from_str(&text).ok()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_pid_file(path: &Path, record: &PidFile) -> anyhow::Result<()> {
    let text = serde_json::to_string(record)?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Whether a process `pid` exists (a zombie counts until it is reaped).
fn is_alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
}

/// Whether `pid` runs orch (so that a recycled pid is not signalled).
/// Assumed when /proc cannot tell.
fn is_orch(pid: i32) -> bool {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => String::from_utf8_lossy(&cmdline).contains("orch"),
        Err(_) => true,
    }
}

/// The URL after `ready_line` in the log, past `offset`.
fn announced_url(log: &Path, offset: u64, ready_line: &str) -> Option<String> {
    let text = read_from(log, offset)?;
    let line = text.lines().find(|line| line.contains(ready_line))?;
    let rest = &line[line.find(ready_line)? + ready_line.len()..];
    let url = rest.split_whitespace().next()?.trim_end_matches('/');
    Some(url.to_string())
}

fn read_from(path: &Path, offset: u64) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    Some(text)
}

/// The last `lines` lines of the log past `offset`.
fn tail(path: &Path, offset: u64, lines: usize) -> String {
    let text = read_from(path, offset).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The status of a plain `GET url+path`, if the server answers.
pub fn http_status(url: &str, path: &str) -> Option<u16> {
    let address = url.trim_start_matches("http://").trim_end_matches('/');
    let socket = std::net::ToSocketAddrs::to_socket_addrs(address)
        .ok()?
        .next()?;
    let mut stream = std::net::TcpStream::connect_timeout(&socket, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head).ok()?;
    let text = String::from_utf8_lossy(&head[..read]);
    text.split_whitespace().nth(1)?.parse().ok()
}
