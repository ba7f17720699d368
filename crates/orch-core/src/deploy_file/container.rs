//! A deployment's container settings (`image`, `memory`, `cpus`, `volumes`,
//! `network`, `user`, `pull_policy`, `keep_container`), checked where they
//! are written.

use super::raw::RawDeployment;
use super::source::Source;
use crate::container::{ContainerSettings, PullPolicy};
use crate::error::Result;

/// The deployment's container settings, each checked and pointed at when bad.
pub(super) fn container(source: &Source<'_>, raw: &mut RawDeployment) -> Result<ContainerSettings> {
    let at =
        |span: std::ops::Range<usize>, message: String| source.error(Some(span.start), message);
    let mut settings = ContainerSettings {
        keep_container: raw.keep_container,
        ..ContainerSettings::default()
    };
    let check = |span: std::ops::Range<usize>, settings: &ContainerSettings| {
        settings.validate().map_err(|message| at(span, message))
    };
    if let Some(image) = raw.image.take() {
        let span = image.span();
        settings.image = Some(image.into_inner());
        check(span, &settings)?;
    }
    if let Some(memory) = raw.memory.take() {
        let span = memory.span();
        settings.memory = Some(memory.into_inner());
        check(span, &settings)?;
    }
    if let Some(cpus) = raw.cpus.take() {
        let span = cpus.span();
        settings.cpus = Some(cpus.into_inner());
        check(span, &settings)?;
    }
    if let Some(volumes) = raw.volumes.take() {
        let span = volumes.span();
        settings.volumes = Some(volumes.into_inner());
        check(span, &settings)?;
    }
    for (field, value) in [("network", raw.network.take()), ("user", raw.user.take())] {
        let Some(value) = value else { continue };
        let span = value.span();
        let value = Some(value.into_inner());
        match field {
            "network" => settings.network = value,
            _ => settings.user = value,
        }
        check(span, &settings)?;
    }
    if let Some(policy) = raw.pull_policy.take() {
        let span = policy.span();
        settings.pull_policy =
            Some(PullPolicy::parse(policy.get_ref()).map_err(|message| at(span, message))?);
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{deployment, error};
    use crate::container::PullPolicy;
    use crate::deploy_file::parse_deploy_file;

    #[test]
    fn container_settings_are_read_and_checked_where_written() {
        let text = deployment(
            "image = \"flows:2\"\nmemory = \"256m\"\ncpus = 0.5\nvolumes = [\"/srv:/data:ro\"]\n\
             network = \"host\"\nuser = \"1000\"\npull_policy = \"never\"\nkeep_container = true\n",
        );
        let file = parse_deploy_file("f.toml", &text).unwrap();
        let container = &file[0].container;
        assert_eq!(container.image.as_deref(), Some("flows:2"));
        assert_eq!(container.memory.as_deref(), Some("256m"));
        assert_eq!(container.cpus, Some(0.5));
        assert_eq!(
            container.volumes.as_deref(),
            Some(&["/srv:/data:ro".to_owned()][..])
        );
        assert_eq!(container.network.as_deref(), Some("host"));
        assert_eq!(container.user.as_deref(), Some("1000"));
        assert_eq!(container.pull_policy, Some(PullPolicy::Never));
        assert_eq!(container.keep_container, Some(true));

        let (line, _, message) = error(&deployment("memory = \"lots\"\n"));
        assert_eq!(line, 6);
        assert!(
            message.contains("memory \"lots\" is not a size"),
            "{message}"
        );
        let (line, _, message) = error(&deployment("cpus = 1.0\npull_policy = \"always\"\n"));
        assert_eq!(line, 7);
        assert!(message.contains("\"never\" or \"if-missing\""), "{message}");
        let (_, _, message) = error(&deployment("volumes = [\"data\"]\n"));
        assert!(message.contains("is not SOURCE:TARGET"), "{message}");
    }
}
