//! Who may do what: token scopes, the principal behind a request, and the
//! permission each action needs. Pure rules; the server's authentication
//! layer resolves credentials and asks [`Principal::allows`].
//!
//! Scopes nest: `admin` ⊇ `deploy` ⊇ `operate` ⊇ `read`. `worker` stands
//! apart: it may register, claim and report for its pools only, and read
//! nothing else. `admin` also holds every `worker` right (the local worker of
//! `orch up` runs with the machine's admin key). A flow's per-run credential
//! may report and read its own run only.

use std::fmt;
use std::str::FromStr;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Every GET, watch and logs.
    Read,
    /// `read`, plus run, cancel, retry, pause and resume.
    Operate,
    /// `operate`, plus registering or changing deployments and schedules
    /// (the right to run code on workers).
    Deploy,
    /// Everything: tokens, pools, concurrency limits, deletion, pruning.
    Admin,
    /// Register, claim and report runs, for the token's pools only.
    Worker,
}

impl Scope {
    /// Every scope, in the order of `--scope`'s help.
    pub const ALL: [Scope; 5] = [
        Scope::Read,
        Scope::Operate,
        Scope::Deploy,
        Scope::Admin,
        Scope::Worker,
    ];

    /// The scope's name (`read`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Operate => "operate",
            Scope::Deploy => "deploy",
            Scope::Admin => "admin",
            Scope::Worker => "worker",
        }
    }

    /// Rank in the `read < operate < deploy < admin` chain; `None` for `worker`.
    fn rank(self) -> Option<u8> {
        match self {
            Scope::Read => Some(0),
            Scope::Operate => Some(1),
            Scope::Deploy => Some(2),
            Scope::Admin => Some(3),
            Scope::Worker => None,
        }
    }

    /// True when this scope holds every right of `other`.
    pub fn includes(self, other: Scope) -> bool {
        match (self.rank(), other.rank()) {
            (Some(mine), Some(theirs)) => mine >= theirs,
            (Some(3), None) => true,
            (None, None) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(text: &str) -> Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| {
                format!("unknown scope {text:?}: use one of read, operate, deploy, admin, worker")
            })
    }
}

/// What an action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Anyone, without a credential (health probes, the login page).
    Open,
    /// Any valid credential (who am I, logout).
    Authenticated,
    /// Reading anything.
    Read,
    /// Starting, cancelling, retrying, pausing and resuming.
    Operate,
    /// Registering or changing deployments and schedules.
    Deploy,
    /// Tokens, pools, limits, deletion, pruning.
    Admin,
    /// Registering as a worker, heartbeats, claims (pool checked by the handler).
    Worker,
    /// Reporting on one run (state, task runs, logs, artifacts, slots): a
    /// worker of its pool, or the run's own credential (the handler checks
    /// which run).
    RunWrite,
    /// Reading one run: any reader, a worker, or the run's own credential.
    RunRead,
}

/// The identity a credential resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A token (or a dashboard session made from one).
    Token {
        /// Its scope.
        scope: Scope,
        /// For `worker` tokens, the pools it serves (empty: none).
        pools: Vec<String>,
    },
    /// A flow process's credential for one run.
    Run {
        /// The run it may report on and read.
        run_id: String,
    },
    /// Authentication is off (`--no-auth`): everything is allowed.
    Unchecked,
}

/// Why a principal may not take an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub String);

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Denied {}

impl Principal {
    /// A principal holding `scope` (no pools).
    pub fn scoped(scope: Scope) -> Principal {
        Principal::Token {
            scope,
            pools: Vec::new(),
        }
    }

    /// Whether the principal may take an action needing `permission`.
    /// Run- and pool-specific checks follow in the handler
    /// ([`Principal::may_use_run`], [`Principal::may_use_pool`]).
    pub fn allows(&self, permission: Permission) -> Result<(), Denied> {
        let needed = match permission {
            Permission::Open | Permission::Authenticated => return Ok(()),
            Permission::Read => Scope::Read,
            Permission::Operate => Scope::Operate,
            Permission::Deploy => Scope::Deploy,
            Permission::Admin => Scope::Admin,
            Permission::Worker => Scope::Worker,
            Permission::RunWrite | Permission::RunRead => {
                return match self {
                    Principal::Unchecked | Principal::Run { .. } => Ok(()),
                    Principal::Token { scope, .. }
                        if scope.includes(Scope::Worker)
                            || (permission == Permission::RunRead
                                && scope.includes(Scope::Read)) =>
                    {
                        Ok(())
                    }
                    Principal::Token { scope, .. } => Err(Denied(format!(
                        "a {scope} token may not report on runs: that takes a worker or admin token, or the run's own credential"
                    ))),
                };
            }
        };
        match self {
            Principal::Unchecked => Ok(()),
            Principal::Token { scope, .. } if scope.includes(needed) => Ok(()),
            Principal::Token { scope, .. } => Err(Denied(format!(
                "this needs the {needed} scope; the token's scope is {scope}{}",
                if needed == Scope::Worker {
                    ""
                } else {
                    " (create one with 'orch token create NAME --scope ...')"
                }
            ))),
            Principal::Run { run_id } => Err(Denied(format!(
                "a flow run's credential (run {run_id}) may only report on and read its own run"
            ))),
        }
    }

    /// Whether the principal may act on run `run_id` of pool `pool`
    /// (`None`: the run has no pool).
    pub fn may_use_run(&self, run_id: &str, pool: Option<&str>) -> Result<(), Denied> {
        match self {
            Principal::Run { run_id: own } if own == run_id => Ok(()),
            Principal::Run { run_id: own } => Err(Denied(format!(
                "the credential of run {own} may not act on run {run_id}"
            ))),
            Principal::Token {
                scope: Scope::Worker,
                ..
            } => match pool {
                Some(pool) => self.may_use_pool(pool),
                None => Err(Denied(format!(
                    "run {run_id} is in no work pool, so no worker token may act on it"
                ))),
            },
            _ => Ok(()),
        }
    }

    /// Whether the principal may register for, or claim from, `pool`.
    pub fn may_use_pool(&self, pool: &str) -> Result<(), Denied> {
        match self {
            Principal::Token {
                scope: Scope::Worker,
                pools,
            } if !pools.iter().any(|p| p == pool) => Err(Denied(format!(
                "this worker token serves pool(s) {} only, not {pool:?}; create one for it with 'orch token create NAME --scope worker --pool {pool}'",
                if pools.is_empty() {
                    "(none)".to_owned()
                } else {
                    pools.join(", ")
                }
            ))),
            Principal::Run { .. } => Err(Denied(
                "a flow run's credential may not act for a work pool".to_owned(),
            )),
            _ => Ok(()),
        }
    }

    /// The scope shown to users (`run` for a per-run credential).
    pub fn scope_name(&self) -> &'static str {
        match self {
            Principal::Token { scope, .. } => scope.as_str(),
            Principal::Run { .. } => "run",
            Principal::Unchecked => "admin",
        }
    }
}

/// Parses an expiry such as `30d`, `12h`, `90m` or `3600s` into seconds.
pub fn parse_expiry(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("invalid expiry {text:?}: use e.g. 30d, 12h, 90m"))?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" | "" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "invalid expiry unit in {text:?}: use s, m, h, d or w (e.g. 30d)"
            ));
        }
    };
    if number == 0 {
        return Err("an expiry must be positive (e.g. 30d)".to_owned());
    }
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("expiry {text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(pools: &[&str]) -> Principal {
        Principal::Token {
            scope: Scope::Worker,
            pools: pools.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn scopes_nest_read_operate_deploy_admin_and_admin_holds_worker() {
        assert!(Scope::Admin.includes(Scope::Read));
        assert!(Scope::Deploy.includes(Scope::Operate));
        assert!(!Scope::Operate.includes(Scope::Deploy));
        assert!(!Scope::Read.includes(Scope::Operate));
        assert!(Scope::Admin.includes(Scope::Worker));
        assert!(!Scope::Deploy.includes(Scope::Worker));
        assert!(!Scope::Worker.includes(Scope::Read));
    }

    #[test]
    fn each_scope_gets_exactly_its_permissions() {
        use Permission::*;
        let read = Principal::scoped(Scope::Read);
        assert!(read.allows(Read).is_ok());
        assert!(read.allows(RunRead).is_ok());
        assert!(read.allows(Operate).is_err());
        assert!(read.allows(RunWrite).is_err());
        let deploy = Principal::scoped(Scope::Deploy);
        assert!(deploy.allows(Deploy).is_ok() && deploy.allows(Operate).is_ok());
        assert!(deploy.allows(Admin).is_err());
        assert!(deploy.allows(Worker).is_err());
        let w = worker(&["a"]);
        assert!(w.allows(Worker).is_ok() && w.allows(RunWrite).is_ok());
        assert!(w.allows(Read).is_err());
        let admin = Principal::scoped(Scope::Admin);
        for p in [Read, Operate, Deploy, Admin, Worker, RunWrite, RunRead] {
            assert!(admin.allows(p).is_ok(), "{p:?}");
        }
    }

    #[test]
    fn a_run_credential_reaches_its_own_run_only() {
        let run = Principal::Run {
            run_id: "r1".into(),
        };
        assert!(run.allows(Permission::RunWrite).is_ok());
        assert!(run.allows(Permission::Read).is_err());
        assert!(run.allows(Permission::Worker).is_err());
        assert!(run.may_use_run("r1", Some("a")).is_ok());
        let denied = run.may_use_run("r2", Some("a")).unwrap_err();
        assert!(denied.0.contains("r2"), "{denied}");
        assert!(run.may_use_pool("a").is_err());
    }

    #[test]
    fn a_worker_token_is_held_to_its_pools() {
        let w = worker(&["a"]);
        assert!(w.may_use_pool("a").is_ok());
        let denied = w.may_use_pool("b").unwrap_err();
        assert!(denied.0.contains("--pool b"), "{denied}");
        assert!(w.may_use_run("r", Some("a")).is_ok());
        assert!(w.may_use_run("r", Some("b")).is_err());
        assert!(w.may_use_run("r", None).is_err());
        assert!(Principal::scoped(Scope::Admin).may_use_pool("b").is_ok());
    }

    #[test]
    fn scopes_and_expiries_parse_with_helpful_errors() {
        assert_eq!("Deploy".parse::<Scope>(), Ok(Scope::Deploy));
        assert!(
            "root"
                .parse::<Scope>()
                .unwrap_err()
                .contains("read, operate")
        );
        assert_eq!(parse_expiry("30d"), Ok(30 * 86_400));
        assert_eq!(parse_expiry("12h"), Ok(12 * 3600));
        assert!(parse_expiry("0d").is_err());
        assert!(parse_expiry("3y").unwrap_err().contains("unit"));
    }
}
