//! Flow processes that outlived their worker.
//!
//! A worker killed with `kill -9` takes its flows' process groups with it
//! (the flow guard, see `guard`; or a parent-death signal on each leader).
//! In case that failed too (the guard killed with the worker, a flow started
//! in the instant before the guard heard of it), every started group is also
//! written to a journal in the worker's state folder: one file per worker
//! (`flows/PID-START-N.journal`), one appended line per event: `+ GROUP
//! LEADER_START RUN_ID` when a group starts, `- GROUP` when its leader was
//! reaped. No fsync: the journal guards against the worker's death, not the
//! machine's (which takes the flows with it). It is rewritten with only the
//! running groups when it grows past [`COMPACT_AT`], and removed when the
//! worker ends with nothing running. A worker that starts reads the
//! journals of workers that are no longer alive and kills what is left of
//! their groups before it claims anything: the server will run those runs
//! again, so nothing of the old run may go on. (Workers before the journal
//! wrote one `GROUP.group` file per group; those are still read.)
//!
//! Process ids are reused, so the journal's name keeps the worker's start
//! time and each line its leader's (from `/proc/PID/stat`): a live process
//! with the recorded pid but another start time is someone else.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The folder under a worker's state folder that holds the journals.
const FLOWS: &str = "flows";

/// The size past which a journal is rewritten with the running groups only.
const COMPACT_AT: u64 = 1 << 20;

/// This worker's journal of the process groups it started.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    state: Mutex<JournalState>,
}

#[derive(Debug)]
struct JournalState {
    file: File,
    /// The `+` line of each running group.
    running: HashMap<i32, String>,
    /// The journal's size.
    size: u64,
}

impl Journal {
    /// Creates this worker's journal in `state_dir`.
    ///
    /// # Errors
    ///
    /// The folder or the file cannot be created.
    pub(crate) fn create(state_dir: &Path) -> Result<Journal, String> {
        let dir = state_dir.join(FLOWS);
        let me = std::process::id() as i32;
        // Numbered: several workers may run in one process (`orch up`, tests).
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{me}-{}-{n}.journal", start_time(me).unwrap_or(0)));
        let file = orch_proto::private_files::create_dir(&dir)
            .and_then(|()| open_new(&path))
            .map_err(|error| {
                format!(
                    "cannot create the flows journal {}: {error}",
                    path.display()
                )
            })?;
        Ok(Journal {
            path,
            state: Mutex::new(JournalState {
                file,
                running: HashMap::new(),
                size: 0,
            }),
        })
    }

    /// Records that this worker started `group` for `run_id`. A line that
    /// cannot be written is logged: the guard still covers the group.
    pub(crate) fn started(&self, group: Pid, run_id: &str) {
        let line = format!(
            "+ {} {} {run_id}\n",
            group.as_raw(),
            start_time(group.as_raw()).unwrap_or(0)
        );
        let mut state = self.lock();
        state.append(&self.path, &line);
        state.running.insert(group.as_raw(), line);
    }

    /// Records that `group`'s leader was reaped.
    pub(crate) fn ended(&self, group: Pid) {
        let mut state = self.lock();
        if state.running.remove(&group.as_raw()).is_none() {
            return;
        }
        state.append(&self.path, &format!("- {}\n", group.as_raw()));
        if state.size > COMPACT_AT {
            state.compact(&self.path);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, JournalState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if self.lock().running.is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl JournalState {
    fn append(&mut self, path: &Path, line: &str) {
        // One write: the file is opened to append, so a line is never torn
        // by another writer, and the worker's death cannot cut it in two.
        match self.file.write_all(line.as_bytes()) {
            Ok(()) => self.size += line.len() as u64,
            Err(error) => tracing::warn!(
                path = %path.display(),
                %error,
                "cannot write to the flows journal"
            ),
        }
    }

    /// Rewrites the journal with the running groups only (written aside,
    /// then renamed over it: a reader sees the old or the new, whole).
    fn compact(&mut self, path: &Path) {
        let aside = path.with_extension("compacting");
        let text: String = self.running.values().map(String::as_str).collect();
        let rewritten = open_new(&aside).and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            std::fs::rename(&aside, path)?;
            Ok(file)
        });
        match rewritten {
            Ok(file) => {
                self.file = file;
                self.size = text.len() as u64;
            }
            Err(error) => {
                let _ = std::fs::remove_file(&aside);
                tracing::warn!(path = %path.display(), %error, "cannot compact the flows journal");
            }
        }
    }
}

/// Creates (or empties) `path`, owner-only, to append to.
fn open_new(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .and_then(|file| {
            file.set_len(0)?;
            Ok(file)
        })
}

/// Kills the groups recorded by workers that are no longer running; returns
/// the runs whose processes were killed.
pub(crate) fn kill_leftovers(state_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(state_dir.join(FLOWS)) else {
        return Vec::new();
    };
    let mut killed = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let records = if let Some(worker) = name.strip_suffix(".journal") {
            let Some(worker) = Worker::parse(worker) else {
                tracing::warn!(path = %path.display(), "ignoring a flows journal of an unknown name");
                continue;
            };
            if worker.alive() {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            replay(&text)
        } else if let Some(worker) = name.strip_suffix(".compacting") {
            // A compaction the worker died in: its journal is still whole.
            if Worker::parse(worker).is_some_and(|worker| !worker.alive()) {
                let _ = std::fs::remove_file(&path);
            }
            continue;
        } else if name.ends_with(".group") {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let Some((worker, record)) = Record::parse_group_file(&text) else {
                tracing::warn!(path = %path.display(), "ignoring an unreadable flow group record");
                let _ = std::fs::remove_file(&path);
                continue;
            };
            if worker.alive() {
                continue;
            }
            vec![record]
        } else {
            continue;
        };
        for record in records {
            if record.kill() {
                killed.push(record.run_id);
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    killed
}

/// The groups a journal leaves running: started and not ended.
fn replay(text: &str) -> Vec<Record> {
    let mut running: HashMap<i32, Record> = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let parsed = match (
            fields.next(),
            fields.next().and_then(|g| g.parse::<i32>().ok()),
        ) {
            (Some("+"), Some(group)) => (|| {
                let leader_start = fields.next()?.parse().ok()?;
                let run_id = fields.next()?.to_owned();
                running.insert(
                    group,
                    Record {
                        group,
                        leader_start,
                        run_id,
                    },
                );
                Some(())
            })(),
            (Some("-"), Some(group)) => {
                running.remove(&group);
                Some(())
            }
            _ => None,
        };
        if parsed.is_none() {
            tracing::warn!(line, "ignoring an unreadable line of a flows journal");
        }
    }
    running.into_values().collect()
}

/// A worker, by pid and start time.
#[derive(Debug, PartialEq)]
struct Worker {
    pid: i32,
    start: u64,
}

impl Worker {
    /// From a journal's name without its extension: `PID-START-N`.
    fn parse(name: &str) -> Option<Worker> {
        let mut parts = name.splitn(3, '-');
        let (pid, start) = (parts.next()?, parts.next()?);
        Some(Worker {
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
        })
    }

    /// Whether the worker still runs (another worker on this host sharing
    /// the folder, or this one).
    fn alive(&self) -> bool {
        self.pid == std::process::id() as i32
            || start_time(self.pid).is_some_and(|start| start == self.start)
    }
}

/// A group a worker started.
#[derive(Debug, PartialEq)]
struct Record {
    group: i32,
    leader_start: u64,
    run_id: String,
}

impl Record {
    /// A file of the workers before the journal:
    /// `WORKER_PID WORKER_START GROUP LEADER_START RUN_ID`.
    fn parse_group_file(text: &str) -> Option<(Worker, Record)> {
        let mut fields = text.split_ascii_whitespace();
        let worker = Worker {
            pid: fields.next()?.parse().ok()?,
            start: fields.next()?.parse().ok()?,
        };
        let record = Record {
            group: fields.next()?.parse().ok()?,
            leader_start: fields.next()?.parse().ok()?,
            run_id: fields.next()?.to_owned(),
        };
        Some((worker, record))
    }

    /// Kills what is left of the group, if it is still the one recorded.
    /// Returns whether something was killed.
    fn kill(&self) -> bool {
        if !self.group_is_ours() {
            return false;
        }
        tracing::warn!(
            run = %self.run_id,
            group = self.group,
            "killing the processes of a run left running by a worker that died"
        );
        match killpg(Pid::from_raw(self.group), Signal::SIGKILL) {
            Ok(()) => true,
            Err(nix::errno::Errno::ESRCH) => false,
            Err(errno) => {
                tracing::warn!(group = self.group, %errno, "cannot kill a leftover flow group");
                false
            }
        }
    }

    /// Whether the group is still the one recorded: its leader runs with the
    /// recorded start time, or the leader is gone (killed with its worker)
    /// and members are left. A pid is not reused while a process group of
    /// that id has members, so such members are the flow's own.
    fn group_is_ours(&self) -> bool {
        if self.group <= 1 {
            return false;
        }
        match start_time(self.group) {
            Some(start) => start == self.leader_start,
            None => killpg(Pid::from_raw(self.group), None).is_ok(),
        }
    }
}

/// When process `pid` started (clock ticks since boot), or `None` if it does
/// not exist or is a zombie.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp ...`: the fields after the last ')' start
    // with the state (field 3); the start time is field 22.
    let mut fields = stat[stat.rfind(')')? + 1..].split_ascii_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_replays_to_the_groups_still_running() {
        let text = "+ 30 400 run-1\n+ 31 401 run-2\n- 30\ngarbage\n+ 32 402 run-3\n+ 33";
        let mut left = replay(text);
        left.sort_by_key(|record| record.group);
        assert_eq!(
            left,
            [
                Record {
                    group: 31,
                    leader_start: 401,
                    run_id: "run-2".into()
                },
                Record {
                    group: 32,
                    leader_start: 402,
                    run_id: "run-3".into()
                }
            ]
        );
        assert_eq!(
            Worker::parse("10-200-0"),
            Some(Worker {
                pid: 10,
                start: 200
            })
        );
        assert_eq!(Worker::parse("10"), None);
    }

    #[test]
    fn an_old_group_file_reads_back() {
        let (worker, record) = Record::parse_group_file("10 200 30 400 run-1\n").unwrap();
        assert_eq!(
            worker,
            Worker {
                pid: 10,
                start: 200
            }
        );
        assert_eq!(
            record,
            Record {
                group: 30,
                leader_start: 400,
                run_id: "run-1".into()
            }
        );
        assert_eq!(Record::parse_group_file("10 200 x"), None);
    }

    #[test]
    fn this_process_has_a_start_time_and_is_alive() {
        let me = std::process::id() as i32;
        assert!(start_time(me).is_some());
        assert!(Worker { pid: me, start: 0 }.alive());
    }

    /// A process group standing in for a flow.
    fn sleeper() -> (std::process::Child, Pid) {
        use std::os::unix::process::CommandExt;
        let child = std::process::Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .unwrap();
        let group = Pid::from_raw(child.id() as i32);
        (child, group)
    }

    #[test]
    fn a_dead_workers_groups_are_killed_and_a_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (mut left, left_group) = sleeper();
        let (mut ended, ended_group) = sleeper();
        let journal = Journal::create(dir.path()).unwrap();
        journal.started(left_group, "run-left");
        journal.started(ended_group, "run-ended");
        journal.ended(ended_group);
        // This (live) worker's journal is left alone.
        assert!(kill_leftovers(dir.path()).is_empty());
        assert!(journal.path.exists());

        // The same journal, as if written by a worker that is gone.
        let dead = dir.path().join(FLOWS).join("999999999-1-0.journal");
        std::fs::copy(&journal.path, &dead).unwrap();
        assert_eq!(kill_leftovers(dir.path()), ["run-left"]);
        let status = left.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
        assert!(!dead.exists());
        // Recorded as ended: not killed.
        assert_eq!(ended.try_wait().unwrap(), None);
        ended.kill().unwrap();
        ended.wait().unwrap();

        // A compaction a dead worker was cut short in is cleared; a live
        // worker's is left to it.
        let cut_short = dir.path().join(FLOWS).join("999999999-1-0.compacting");
        std::fs::write(&cut_short, "+ 1 2 run-left\n").unwrap();
        let live = journal.path.with_extension("compacting");
        std::fs::write(&live, "").unwrap();
        assert!(kill_leftovers(dir.path()).is_empty());
        assert!(!cut_short.exists());
        assert!(live.exists());
        std::fs::remove_file(&live).unwrap();

        // Dropped with a group running, the journal stays for the next worker.
        let path = journal.path.clone();
        drop(journal);
        assert!(path.exists());
    }

    #[test]
    fn an_old_workers_group_file_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, group) = sleeper();
        std::fs::create_dir(dir.path().join(FLOWS)).unwrap();
        let text = format!(
            "999999999 1 {} {} run-old\n",
            group.as_raw(),
            start_time(group.as_raw()).unwrap()
        );
        let path = dir.path().join(FLOWS).join(format!("{group}.group"));
        std::fs::write(&path, text).unwrap();
        assert_eq!(kill_leftovers(dir.path()), ["run-old"]);
        assert!(child.wait().unwrap().code().is_none());
        assert!(!path.exists());
    }

    #[test]
    fn a_journal_is_compacted_to_the_running_groups() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::create(dir.path()).unwrap();
        let run_id = "r".repeat(100);
        // Pids that are not running: leader start time 0.
        journal.started(Pid::from_raw(999_999_998), "kept");
        for group in 2.. {
            let before = journal.lock().size;
            journal.started(Pid::from_raw(group), &run_id);
            journal.ended(Pid::from_raw(group));
            if journal.lock().size < before {
                break;
            }
        }
        let text = std::fs::read_to_string(&journal.path).unwrap();
        assert_eq!(text, "+ 999999998 0 kept\n");
        // Appending goes on in the rewritten file.
        journal.ended(Pid::from_raw(999_999_998));
        let text = std::fs::read_to_string(&journal.path).unwrap();
        assert_eq!(text, "+ 999999998 0 kept\n- 999999998\n");
        assert!(replay(&text).is_empty());
        let path = journal.path.clone();
        drop(journal);
        assert!(!path.exists(), "an idle worker's journal is removed");
    }
}
