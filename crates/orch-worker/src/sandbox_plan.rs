//! What the sandbox is asked to do, as its command line carries it:
//! `--namespaces`, `--landlock`, `--run-as UID:GID:GROUPS:NAME --run-as-home DIR`,
//! `--hide PATH`..., `--keep FILE`..., `--probe`, then `-- PROGRAM ARGS...`.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::run_as::RunAs;

/// What to run, how to confine it and what to hide, from the command line.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Own mount and PID namespaces: the hidden folders behind an empty
    /// tmpfs, a fresh `/proc`.
    pub namespaces: bool,
    /// Landlock rules: with `namespaces`, scopes only (abstract UNIX sockets,
    /// signals); without, file rules that leave `hide` out as well.
    pub landlock: bool,
    /// The user to run the flow as (the sandbox runs as root then).
    pub run_as: Option<RunAs>,
    /// Folders (or files) the flow must not see.
    pub hide: Vec<PathBuf>,
    /// Files inside hidden folders the flow still needs.
    pub keep: Vec<PathBuf>,
    /// Set up everything, then exit 0 instead of running a program.
    pub probe: bool,
    /// The program and its arguments.
    pub command: Vec<OsString>,
}

impl Plan {
    /// The arguments after the subcommand that [`parse`] reads back.
    pub(crate) fn to_args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        if self.namespaces {
            args.push("--namespaces".into());
        }
        if self.landlock {
            args.push("--landlock".into());
        }
        if let Some(user) = &self.run_as {
            args.push("--run-as".into());
            args.push(user.to_arg());
            args.push("--run-as-home".into());
            args.push(user.home.clone().into_os_string());
        }
        for path in &self.hide {
            args.push("--hide".into());
            args.push(path.clone().into_os_string());
        }
        for path in &self.keep {
            args.push("--keep".into());
            args.push(path.clone().into_os_string());
        }
        if self.probe {
            args.push("--probe".into());
        }
        args.push("--".into());
        args.extend(self.command.iter().cloned());
        args
    }
}

/// Reads the arguments after the subcommand.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Plan, String> {
    let mut plan = Plan::default();
    let mut user: Option<String> = None;
    let mut home: Option<PathBuf> = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--namespaces") => plan.namespaces = true,
            Some("--landlock") => plan.landlock = true,
            Some("--run-as") => {
                let value = value(&mut args, "--run-as")?;
                user = Some(value.to_string_lossy().into_owned());
            }
            Some("--run-as-home") => home = Some(value(&mut args, "--run-as-home")?),
            Some("--hide") => plan.hide.push(value(&mut args, "--hide")?),
            Some("--keep") => plan.keep.push(value(&mut args, "--keep")?),
            Some("--probe") => plan.probe = true,
            Some("--") => {
                plan.command = args.collect();
                break;
            }
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    if let Some(user) = user {
        let home = home.ok_or("--run-as needs --run-as-home")?;
        plan.run_as = Some(RunAs::from_arg(&user, home)?);
    }
    if plan.command.is_empty() && !plan.probe {
        return Err("no program given after --".to_owned());
    }
    Ok(plan)
}

/// The path after `flag`.
fn value(args: &mut impl Iterator<Item = OsString>, flag: &str) -> Result<PathBuf, String> {
    args.next()
        .map(PathBuf::from)
        .ok_or_else(|| format!("{flag} needs a path"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_survives_its_command_line() {
        let plan = Plan {
            namespaces: true,
            landlock: true,
            run_as: Some(RunAs {
                name: "nobody".into(),
                uid: 65534,
                gid: 65534,
                groups: vec![65534],
                home: "/nonexistent".into(),
            }),
            hide: vec!["/home/w/.orch".into(), "/var/lib/orch worker".into()],
            keep: vec!["/home/w/.orch/worker/parameters/r.json".into()],
            probe: false,
            command: vec!["sh".into(), "-c".into(), "--hide x".into()],
        };
        assert_eq!(parse(plan.to_args()).unwrap(), plan);
        let bare = Plan {
            command: vec!["true".into()],
            ..Plan::default()
        };
        assert_eq!(parse(bare.to_args()).unwrap(), bare);
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        let error = parse(["--hide".into()]).unwrap_err();
        assert_eq!(error, "--hide needs a path");
        let error = parse(["--hide".into(), "/x".into()]).unwrap_err();
        assert_eq!(error, "no program given after --");
        let error = parse(["--frob".into()]).unwrap_err();
        assert!(error.contains("unexpected argument"), "{error}");
        assert!(parse(["--probe".into(), "--".into()]).unwrap().probe);
        let error = parse(["--run-as".into(), "1:1::x".into(), "--probe".into()]).unwrap_err();
        assert_eq!(error, "--run-as needs --run-as-home");
    }
}
