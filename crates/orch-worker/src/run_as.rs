//! `orch worker start --run-as USER`: a root worker runs its flows as
//! another user (its uid, primary group, supplementary groups and home).

use std::ffi::{CString, OsString};
use std::path::PathBuf;

use nix::unistd::{Gid, Uid, User};

/// The user flows run as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    /// The user's name (`USER` and `LOGNAME` of its flows).
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary group.
    pub gid: u32,
    /// Every group it belongs to (the primary one included).
    pub groups: Vec<u32>,
    /// Its home folder (`HOME` of its flows).
    pub home: PathBuf,
}

impl RunAs {
    /// The account `user` (a name, or a numeric uid) of this host, for a
    /// worker whose effective uid is `worker_uid`.
    ///
    /// # Errors
    ///
    /// What to fix: the worker is not root, or there is no such user.
    pub fn lookup(user: &str, worker_uid: u32) -> Result<RunAs, String> {
        if worker_uid != 0 {
            return Err(format!(
                "--run-as {user}: only a worker running as root can run flows as another user \
                 (this one runs as uid {worker_uid}); start the worker as root, or start it as \
                 {user} without --run-as"
            ));
        }
        let found = match user.parse::<u32>() {
            Ok(uid) => User::from_uid(Uid::from_raw(uid)),
            Err(_) => User::from_name(user),
        };
        let account = found
            .map_err(|errno| format!("--run-as {user}: cannot look the user up: {errno}"))?
            .ok_or_else(|| {
                format!(
                    "--run-as {user}: there is no such user on this host (see /etc/passwd, or \
                     create it: useradd --system {user})"
                )
            })?;
        let groups = CString::new(account.name.clone())
            .ok()
            .and_then(|name| nix::unistd::getgrouplist(&name, account.gid).ok())
            .unwrap_or_else(|| vec![account.gid]);
        Ok(RunAs {
            name: account.name,
            uid: account.uid.as_raw(),
            gid: account.gid.as_raw(),
            groups: groups.into_iter().map(Gid::as_raw).collect(),
            home: account.dir,
        })
    }

    /// The sandbox's `--run-as` value: `UID:GID:G1,G2:NAME`.
    pub(crate) fn to_arg(&self) -> OsString {
        let groups: Vec<String> = self.groups.iter().map(u32::to_string).collect();
        format!(
            "{}:{}:{}:{}",
            self.uid,
            self.gid,
            groups.join(","),
            self.name
        )
        .into()
    }

    /// Reads [`RunAs::to_arg`] back, with the home given apart.
    pub(crate) fn from_arg(arg: &str, home: PathBuf) -> Result<RunAs, String> {
        let bad = || format!("--run-as {arg:?}: expected UID:GID:GROUPS:NAME");
        let mut parts = arg.splitn(4, ':');
        let mut number = || {
            parts
                .next()
                .and_then(|text| text.parse::<u32>().ok())
                .ok_or_else(bad)
        };
        let uid = number()?;
        let gid = number()?;
        let groups = parts.next().ok_or_else(bad)?;
        let groups = groups
            .split(',')
            .filter(|group| !group.is_empty())
            .map(|group| group.parse::<u32>().map_err(|_| bad()))
            .collect::<Result<Vec<_>, _>>()?;
        let name = parts.next().ok_or_else(bad)?.to_owned();
        Ok(RunAs {
            name,
            uid,
            gid,
            groups,
            home,
        })
    }

    /// Becomes this user for good (groups, gid, then uid: no way back), and
    /// sets `HOME`, `USER` and `LOGNAME`. Call it single-threaded.
    pub(crate) fn become_user(&self) -> Result<(), String> {
        let groups: Vec<Gid> = self.groups.iter().copied().map(Gid::from_raw).collect();
        let gid = Gid::from_raw(self.gid);
        let uid = Uid::from_raw(self.uid);
        nix::unistd::setgroups(&groups)
            .and_then(|()| nix::unistd::setresgid(gid, gid, gid))
            .and_then(|()| nix::unistd::setresuid(uid, uid, uid))
            .map_err(|errno| format!("cannot become user {} ({}): {errno}", self.name, self.uid))?;
        // SAFETY: the sandbox is single-threaded (see `sandbox`).
        unsafe {
            std::env::set_var("HOME", &self.home);
            std::env::set_var("USER", &self.name);
            std::env::set_var("LOGNAME", &self.name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_survives_its_command_line() {
        let user = RunAs {
            name: "svc:odd".into(),
            uid: 1001,
            gid: 1002,
            groups: vec![1002, 27],
            home: "/home/svc".into(),
        };
        let arg = user.to_arg().into_string().unwrap();
        assert_eq!(arg, "1001:1002:1002,27:svc:odd");
        assert_eq!(RunAs::from_arg(&arg, "/home/svc".into()).unwrap(), user);
        let error = RunAs::from_arg("x:1", "/".into()).unwrap_err();
        assert!(error.contains("UID:GID:GROUPS:NAME"), "{error}");
    }

    #[test]
    fn only_root_may_switch_and_only_to_a_real_user() {
        let error = RunAs::lookup("nobody", 1000).unwrap_err();
        assert!(error.contains("only a worker running as root"), "{error}");
        let error = RunAs::lookup("no-such-user-3f9a", 0).unwrap_err();
        assert!(error.contains("there is no such user"), "{error}");
        let root = RunAs::lookup("0", 0).unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(root.name, "root");
    }
}
