//! The rules every deployment follows whatever its source: the deploy file's
//! parser checks them at each value's line, the store checks them again
//! before writing (deployments sent by gRPC have no deploy file).

use super::DeploymentSpec;

impl DeploymentSpec {
    /// The rules every deployment follows whatever its source (a deploy
    /// file, gRPC, REST), with the deploy file's messages: the names of its
    /// flow, itself and its pool ([`crate::NameKind`]), and the range of
    /// each number ([`crate::settings`]). The store checks it before
    /// writing; the deploy file's parser has already checked the same at
    /// each value's line.
    ///
    /// # Errors
    ///
    /// The first rule broken, naming the deployment.
    pub fn check(&self) -> std::result::Result<(), String> {
        use crate::NameKind;
        use crate::settings::{
            CONCURRENCY_LIMIT, MAX_LATENESS_SECONDS, RETENTION_DAYS, RETRIES, RETRY_DELAY_SECONDS,
        };
        for (kind, name) in [
            (NameKind::Flow, &self.flow),
            (NameKind::Deployment, &self.name),
            (NameKind::WorkPool, &self.work_pool),
        ] {
            kind.check(name).map_err(|error| error.to_string())?;
        }
        let label = format!("deployment \"{}/{}\"", self.flow, self.name);
        let numbers = [
            (&RETRIES, "retries", Some(u64::from(self.retries))),
            (
                &RETRY_DELAY_SECONDS,
                "retry_delay_seconds",
                Some(self.retry_delay_seconds),
            ),
            (
                &MAX_LATENESS_SECONDS,
                "max_lateness_seconds",
                self.policy.max_lateness_seconds,
            ),
            (
                &CONCURRENCY_LIMIT,
                "concurrency_limit",
                self.policy.concurrency_limit.map(u64::from),
            ),
            (
                &RETENTION_DAYS,
                "retention.runs_days",
                self.retention.runs_days.map(u64::from),
            ),
            (
                &RETENTION_DAYS,
                "retention.logs_days",
                self.retention.logs_days.map(u64::from),
            ),
        ];
        for (range, key, value) in numbers {
            if let Some(value) = value {
                range
                    .check_whole(key, i128::from(value))
                    .map_err(|message| format!("{label}: {message}"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_deploy_file;

    fn spec() -> super::DeploymentSpec {
        let text = "[[deployments]]\nflow = \"f\"\nname = \"d\"\nentrypoint = [\"x\"]\nwork_pool = \"p\"\n";
        parse_deploy_file("f.toml", text).unwrap().remove(0)
    }

    #[test]
    fn a_deployment_from_the_api_gets_the_deploy_files_names_and_ranges() {
        assert_eq!(spec().check(), Ok(()));
        let mut named = spec();
        named.name = "../evil".into();
        let error = named.check().unwrap_err();
        assert!(
            error.starts_with("invalid deployment name \"../evil\": it contains '/'"),
            "{error}"
        );
        let mut late = spec();
        late.retry_delay_seconds = u64::MAX;
        assert_eq!(
            late.check().unwrap_err(),
            "deployment \"f/d\": `retry_delay_seconds` must be a whole number of seconds \
             (0 to 31536000), not 18446744073709551615"
        );
        let mut kept = spec();
        kept.retention.runs_days = Some(0);
        assert!(
            kept.check()
                .unwrap_err()
                .contains("`retention.runs_days` must be a positive whole number of days"),
        );
        let mut limited = spec();
        limited.policy.concurrency_limit = Some(0);
        assert!(limited.check().is_err());
    }
}
