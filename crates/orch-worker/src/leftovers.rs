//! Flow processes that outlived their worker.
//!
//! Each flow is started with a parent-death signal (SIGKILL when the worker
//! dies, see `process::spawn`), so a worker killed with `kill -9` takes its
//! flows' leaders with it. What a flow started itself (its process group)
//! does not get that signal, so every started group is also recorded in the
//! worker's state folder, one file per group, removed once the group is
//! gone. A worker that starts finds the files of workers that are no longer
//! alive and kills what is left of those groups before it claims anything:
//! the server will run those runs again, so nothing of the old run may go on.
//!
//! Process ids are reused, so each file keeps the start times (from
//! `/proc/PID/stat`) of the worker and of the group's leader: a live process
//! with the recorded pid but another start time is someone else.

use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The folder under a worker's state folder that holds the group files.
const FLOWS: &str = "flows";

/// The record of one started process group; removing it forgets the group.
#[derive(Debug)]
pub(crate) struct GroupRecord {
    path: PathBuf,
}

impl GroupRecord {
    /// Forgets the group (its processes are gone).
    pub(crate) fn forget(self) {
        if let Err(error) = std::fs::remove_file(&self.path)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), %error, "cannot remove a flow group record");
        }
    }
}

/// Records that this worker started `group` for `run_id`. A record that
/// cannot be written is logged and skipped: the parent-death signal still
/// covers the group's leader.
pub(crate) fn record(state_dir: &Path, group: Pid, run_id: &str) -> Option<GroupRecord> {
    let dir = state_dir.join(FLOWS);
    let me = std::process::id() as i32;
    let text = format!(
        "{me} {} {} {} {run_id}\n",
        start_time(me).unwrap_or(0),
        group.as_raw(),
        start_time(group.as_raw()).unwrap_or(0),
    );
    let path = dir.join(format!("{}.group", group.as_raw()));
    let written = orch_proto::private_files::create_dir(&dir)
        .and_then(|()| orch_proto::private_files::write(&path, text.as_bytes()));
    match written {
        Ok(()) => Some(GroupRecord { path }),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot record a flow's process group");
            None
        }
    }
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
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Some(record) = Record::parse(&text) else {
            tracing::warn!(path = %path.display(), "ignoring an unreadable flow group record");
            let _ = std::fs::remove_file(&path);
            continue;
        };
        if record.worker_alive() {
            continue;
        }
        if record.group_is_ours() {
            tracing::warn!(
                run = %record.run_id,
                group = record.group,
                "killing the processes of a run left running by a worker that died"
            );
            match killpg(Pid::from_raw(record.group), Signal::SIGKILL) {
                Ok(()) => killed.push(record.run_id.clone()),
                Err(nix::errno::Errno::ESRCH) => {}
                Err(errno) => {
                    tracing::warn!(group = record.group, %errno, "cannot kill a leftover flow group");
                    continue;
                }
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    killed
}

/// One group file: `WORKER_PID WORKER_START GROUP LEADER_START RUN_ID`.
#[derive(Debug, PartialEq)]
struct Record {
    worker: i32,
    worker_start: u64,
    group: i32,
    leader_start: u64,
    run_id: String,
}

impl Record {
    fn parse(text: &str) -> Option<Record> {
        let mut fields = text.split_ascii_whitespace();
        Some(Record {
            worker: fields.next()?.parse().ok()?,
            worker_start: fields.next()?.parse().ok()?,
            group: fields.next()?.parse().ok()?,
            leader_start: fields.next()?.parse().ok()?,
            run_id: fields.next()?.to_owned(),
        })
    }

    /// Whether the worker that wrote the record still runs (another worker
    /// on this host sharing the folder).
    fn worker_alive(&self) -> bool {
        self.worker == std::process::id() as i32
            || start_time(self.worker).is_some_and(|start| start == self.worker_start)
    }

    /// Whether the group is still the one recorded: its leader runs with the
    /// recorded start time, or the leader is gone (killed by the parent-death
    /// signal) and members are left. A pid is not reused while a process
    /// group of that id has members, so such members are the flow's own.
    fn group_is_ours(&self) -> bool {
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
    fn a_record_reads_back() {
        let record = Record::parse("10 200 30 400 run-1\n").unwrap();
        assert_eq!(
            record,
            Record {
                worker: 10,
                worker_start: 200,
                group: 30,
                leader_start: 400,
                run_id: "run-1".into()
            }
        );
        assert_eq!(Record::parse("10 200 x"), None);
    }

    #[test]
    fn this_process_has_a_start_time_and_is_alive() {
        let me = std::process::id() as i32;
        assert!(start_time(me).is_some());
        let record = Record {
            worker: me,
            worker_start: 0,
            group: 1,
            leader_start: 0,
            run_id: "r".into(),
        };
        assert!(record.worker_alive());
    }

    #[test]
    fn a_dead_workers_group_is_killed_and_a_live_ones_kept() {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        // A process group standing in for a flow left behind.
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .unwrap();
        let group = Pid::from_raw(child.id() as i32);
        let record = record(dir.path(), group, "run-left").unwrap();
        // Rewrite it as if written by a worker that is gone.
        let text = std::fs::read_to_string(&record.path).unwrap();
        let rest: Vec<&str> = text.split_ascii_whitespace().skip(2).collect();
        std::fs::write(&record.path, format!("999999999 1 {}", rest.join(" "))).unwrap();

        assert_eq!(kill_leftovers(dir.path()), ["run-left"]);
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
        assert!(!record.path.exists());

        // A group recorded by this (live) worker is left alone.
        let mut live = std::process::Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .unwrap();
        let kept = super::record(dir.path(), Pid::from_raw(live.id() as i32), "run-live").unwrap();
        assert!(kill_leftovers(dir.path()).is_empty());
        assert!(kept.path.exists());
        live.kill().unwrap();
        live.wait().unwrap();
        kept.forget();
    }
}
