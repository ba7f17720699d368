//! How the worker isolates flows (`worker.isolation`) and as whom it runs
//! them (`worker.run_as`), resolved like every other setting: the flag
//! (`--isolation`, `--run-as`), then the variable (`ORCH_WORKER_ISOLATION`,
//! `ORCH_WORKER_RUN_AS`), then the config file's `[worker]` table, then the
//! default (`auto`; the worker's own user).
//!
//! ```toml
//! [worker]
//! isolation = "landlock"
//! run_as = "orch-flows"
//! ```

use orch_worker::Isolation;

use crate::config::{Setting, non_empty, pick};
use crate::error::usage;

/// `ORCH_WORKER_ISOLATION`.
pub const ENV_ISOLATION: &str = orch_core::env_vars::WORKER_ISOLATION;
/// `ORCH_WORKER_RUN_AS`.
pub const ENV_RUN_AS: &str = orch_core::env_vars::WORKER_RUN_AS;

/// The isolation mode from `flag`, the environment or the config file's
/// `worker.isolation`; `auto` by default. A bad name says where it came from.
pub fn isolation(
    flag: Option<Isolation>,
    environment: &dyn Fn(&str) -> Option<String>,
    file: Option<&str>,
) -> anyhow::Result<Setting<Isolation>> {
    let env = non_empty(environment(ENV_ISOLATION))
        .map(|text| {
            text.parse::<Isolation>()
                .map_err(|error| usage(format!("{ENV_ISOLATION}={text}: {error}")))
        })
        .transpose()?;
    let file = file
        .map(|text| {
            text.parse::<Isolation>()
                .map_err(|error| usage(format!("config file: worker.isolation: {error}")))
        })
        .transpose()?;
    Ok(pick(flag, (ENV_ISOLATION, env), file, Isolation::Auto))
}

/// The user flows run as, from `flag`, the environment or the config
/// file's `worker.run_as`; `None` (the worker's own user) by default.
pub fn run_as(
    flag: Option<String>,
    environment: &dyn Fn(&str) -> Option<String>,
    file: Option<&str>,
) -> Setting<Option<String>> {
    let env = non_empty(environment(ENV_RUN_AS)).map(|user| Some(user.trim().to_owned()));
    let file = file
        .filter(|user| !user.trim().is_empty())
        .map(|user| Some(user.trim().to_owned()));
    pick(flag.map(Some), (ENV_RUN_AS, env), file, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn the_flag_beats_the_variable_which_beats_the_file_which_beats_auto() {
        let both = env(&[(ENV_ISOLATION, "namespaces")]);
        let none = env(&[]);
        let setting = isolation(Some(Isolation::None), &both, Some("landlock")).unwrap();
        assert_eq!(
            (setting.value, setting.source),
            (Isolation::None, Source::Flag)
        );
        let setting = isolation(None, &both, Some("landlock")).unwrap();
        assert_eq!(
            (setting.value, setting.source),
            (Isolation::Namespaces, Source::Env(ENV_ISOLATION))
        );
        let setting = isolation(None, &none, Some("landlock")).unwrap();
        assert_eq!(
            (setting.value, setting.source),
            (Isolation::Landlock, Source::ConfigFile)
        );
        let setting = isolation(None, &none, None).unwrap();
        assert_eq!(
            (setting.value, setting.source),
            (Isolation::Auto, Source::Default)
        );
    }

    #[test]
    fn a_bad_mode_names_its_origin() {
        let bad = env(&[(ENV_ISOLATION, "chroot")]);
        let error = isolation(None, &bad, None).unwrap_err().to_string();
        assert!(
            error.starts_with("ORCH_WORKER_ISOLATION=chroot: unknown isolation"),
            "{error}"
        );
        let error = isolation(None, &env(&[]), Some("jail"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("config file: worker.isolation:"),
            "{error}"
        );
        assert!(
            error.contains("auto, namespaces, landlock, none"),
            "{error}"
        );
    }

    #[test]
    fn run_as_is_resolved_in_the_same_order() {
        let variable = env(&[(ENV_RUN_AS, "daemon")]);
        let none = env(&[]);
        let setting = run_as(Some("nobody".into()), &variable, Some("bin"));
        assert_eq!(setting.value.as_deref(), Some("nobody"));
        let setting = run_as(None, &variable, Some("bin"));
        assert_eq!(setting.value.as_deref(), Some("daemon"));
        assert_eq!(setting.source, Source::Env(ENV_RUN_AS));
        let setting = run_as(None, &none, Some("bin"));
        assert_eq!(setting.source, Source::ConfigFile);
        let setting = run_as(None, &none, None);
        assert_eq!((setting.value, setting.source), (None, Source::Default));
    }
}
