//! Which confinement a worker gets: the mode asked for (`--isolation`)
//! against what the host offers, as a pure function ([`decide`]).

use crate::isolation::Isolation;

/// What each kind of confinement gave when tried at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Available {
    /// Own mount and PID namespaces: `Ok`, or why not.
    pub namespaces: Result<(), String>,
    /// Landlock file rules: the kernel's Landlock ABI, or why not.
    pub landlock: Result<i32, String>,
}

/// The confinement in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enforced {
    /// Namespaces hide the files; Landlock scopes (ABI 6) keep abstract UNIX
    /// sockets and signals within the run.
    NamespacesLandlock,
    /// Namespaces alone.
    Namespaces,
    /// Landlock file rules alone.
    Landlock,
    /// Nothing.
    None,
}

impl std::fmt::Display for Enforced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NamespacesLandlock => "namespaces+landlock",
            Self::Namespaces => "namespaces",
            Self::Landlock => "landlock",
            Self::None => "none",
        })
    }
}

/// The Landlock ABI that scopes abstract UNIX sockets and signals.
const SCOPES_ABI: i32 = 6;

/// Which confinement `asked` gets on a host that offers `available`; the
/// error names the mode asked for by name that cannot be had, why, and how
/// to fix it.
///
/// `auto` takes the strongest: namespaces (they hide the files outright and
/// give a fresh `/proc`) with Landlock scopes on top where the kernel has
/// ABI 6, else namespaces, else Landlock file rules, else nothing.
pub fn decide(asked: Isolation, available: &Available) -> Result<Enforced, String> {
    let scopes = matches!(available.landlock, Ok(abi) if abi >= SCOPES_ABI);
    match (asked, &available.namespaces, &available.landlock) {
        (Isolation::None, _, _) => Ok(Enforced::None),
        (Isolation::Namespaces, Ok(()), _) => Ok(Enforced::Namespaces),
        (Isolation::Namespaces, Err(reason), _) => Err(format!(
            "--isolation namespaces is not available on this host: {reason}. Allow user \
             namespaces (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone), run \
             the worker as root, or start it with --isolation auto, landlock or none"
        )),
        (Isolation::Landlock, _, Ok(_)) => Ok(Enforced::Landlock),
        (Isolation::Landlock, _, Err(reason)) => Err(format!(
            "--isolation landlock cannot be enforced on this host: {reason}. Use Linux 5.13 or \
             later built with CONFIG_SECURITY_LANDLOCK=y and landlock in the lsm= boot \
             parameter (cat /sys/kernel/security/lsm shows the active ones), or start the \
             worker with --isolation auto, namespaces or none"
        )),
        (Isolation::Auto, Ok(()), _) if scopes => Ok(Enforced::NamespacesLandlock),
        (Isolation::Auto, Ok(()), _) => Ok(Enforced::Namespaces),
        (Isolation::Auto, Err(_), Ok(_)) => Ok(Enforced::Landlock),
        (Isolation::Auto, Err(_), Err(_)) => Ok(Enforced::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn available(namespaces: Result<(), &str>, landlock: Result<i32, &str>) -> Available {
        Available {
            namespaces: namespaces.map_err(str::to_owned),
            landlock: landlock.map_err(str::to_owned),
        }
    }

    #[test]
    fn auto_takes_the_strongest_confinement_the_host_has() {
        let auto = |a: &Available| decide(Isolation::Auto, a).unwrap();
        assert_eq!(
            auto(&available(Ok(()), Ok(7))),
            Enforced::NamespacesLandlock
        );
        assert_eq!(
            auto(&available(Ok(()), Ok(6))),
            Enforced::NamespacesLandlock
        );
        // Before ABI 6 Landlock has no scopes: namespaces alone hide more.
        assert_eq!(auto(&available(Ok(()), Ok(5))), Enforced::Namespaces);
        assert_eq!(auto(&available(Ok(()), Err("off"))), Enforced::Namespaces);
        assert_eq!(
            auto(&available(Err("no userns"), Ok(3))),
            Enforced::Landlock
        );
        assert_eq!(
            auto(&available(Err("no userns"), Err("off"))),
            Enforced::None
        );
    }

    #[test]
    fn a_mode_asked_by_name_is_enforced_or_refused_with_the_fix() {
        let all = available(Ok(()), Ok(7));
        assert_eq!(decide(Isolation::Landlock, &all), Ok(Enforced::Landlock));
        assert_eq!(
            decide(Isolation::Namespaces, &all),
            Ok(Enforced::Namespaces)
        );
        assert_eq!(decide(Isolation::None, &all), Ok(Enforced::None));
        let bare = available(
            Err("no user namespaces"),
            Err("this kernel has no Landlock"),
        );
        assert_eq!(decide(Isolation::None, &bare), Ok(Enforced::None));
        let error = decide(Isolation::Landlock, &bare).unwrap_err();
        assert!(
            error.starts_with(
                "--isolation landlock cannot be enforced on this host: this kernel has no Landlock"
            ),
            "{error}"
        );
        assert!(error.contains("CONFIG_SECURITY_LANDLOCK=y"), "{error}");
        assert!(error.contains("lsm="), "{error}");
        let error = decide(Isolation::Namespaces, &bare).unwrap_err();
        assert!(error.contains("no user namespaces"), "{error}");
        assert!(
            error.contains("--isolation auto, landlock or none"),
            "{error}"
        );
        assert_eq!(
            Enforced::NamespacesLandlock.to_string(),
            "namespaces+landlock"
        );
    }
}
