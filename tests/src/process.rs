//! Long-running child processes (server, workers) whose output tests wait on.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// A child process whose stdout lines can be awaited; its output is also kept
/// in a log file beside the test's home folder for post-mortems.
pub struct Daemon {
    name: String,
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    log_path: std::path::PathBuf,
}

impl Daemon {
    /// Starts `command` with piped output.
    pub fn spawn(name: &str, mut command: Command, log_dir: &Path) -> Daemon {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let log_path = log_dir.join(format!("{name}-{}.log", child.id()));
        let (sender, lines) = channel();
        for (stream, reader) in [
            (
                "out",
                Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            ),
            ("err", Box::new(child.stderr.take().expect("stderr"))),
        ] {
            let sender = sender.clone();
            let mut log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .expect("daemon log file");
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines().map_while(Result::ok) {
                    // One write per line: the two streams' threads append to
                    // one file, and a line written in pieces could interleave.
                    let _ = log.write_all(format!("[{stream}] {line}\n").as_bytes());
                    if stream == "out" {
                        let _ = sender.send(line);
                    }
                }
            });
        }
        Daemon {
            name: name.to_string(),
            child,
            lines,
            seen: Vec::new(),
            log_path,
        }
    }

    /// Waits (bounded) for a stdout line containing `needle`; returns it.
    pub fn wait_for_line(&mut self, needle: &str, within: Duration) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
                    panic!(
                        "{} never printed {needle:?} within {within:?}; its output:\n{log}",
                        self.name
                    );
                }
            }
        }
    }

    /// Waits (bounded) for the process to exit; returns its exit status and
    /// every stdout line it printed, in order.
    pub fn wait_for_exit(&mut self, within: Duration) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = Instant::now() + within;
        // The readers end (and the channel closes) when the process's output does.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{} did not exit within {within:?}; its output:\n{}",
                    self.name,
                    self.output()
                ),
            }
        }
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status, self.seen.clone());
            }
            assert!(
                Instant::now() < deadline,
                "{} closed its output but did not exit within {within:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(
            status.success(),
            "kill -{signal} {} failed",
            self.child.id()
        );
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`; returns its exit status.
    pub fn terminate(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        self.signal("TERM");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }

    /// SIGKILL at once (a crash).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything it wrote so far (stdout and stderr).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate(Duration::from_secs(5));
        }
    }
}

/// The pid, as this test sees it, of the process that calls itself `pid` in
/// its own PID namespace and has `needle` in its command line. A flow runs in
/// a PID namespace of its own under the worker's default isolation, so the
/// pid it reports (`std::process::id()`, `$$`) is not one the test can signal:
/// `NSpid` in `/proc/PID/status` maps it back. None if no such process lives.
pub fn host_pid(pid: u32, needle: &str) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(host) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let innermost = status
            .lines()
            .find_map(|line| line.strip_prefix("NSpid:"))
            .and_then(|pids| pids.split_whitespace().last())
            .and_then(|p| p.parse::<u32>().ok());
        if innermost != Some(pid) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            return Some(host);
        }
    }
    None
}

/// The flow guard (`orch __guard`) of the worker with pid `worker`, if one
/// runs: its child with `__guard` in its command line that is not a zombie.
pub fn guard_of(worker: u32) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let mut fields = stat.rsplit_once(')')?.1.split_ascii_whitespace();
            let (state, ppid) = (fields.next()?, fields.next()?);
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            (ppid == worker.to_string()
                && state != "Z"
                && String::from_utf8_lossy(&cmdline).contains("__guard"))
            .then_some(pid)
        })
}
