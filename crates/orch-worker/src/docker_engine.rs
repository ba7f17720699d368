//! Connecting to a Docker engine at an API version it speaks.
//!
//! bollard puts its own API version (the newest it knows) in every request
//! path, and an older engine refuses every such request, its version check
//! included: "client version 1.53 is too new. Maximum supported API version
//! is 1.41" (Docker 20.10, Debian 12's `docker.io`). [`connect`] then
//! connects again at the engine's maximum, which the refusal names.

use bollard::{ClientVersion, Docker};

/// The engine's socket when `DOCKER_HOST` names none (bollard's default).
const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// How long one request to the engine may take (bollard's default).
const TIMEOUT_SECONDS: u64 = 120;

/// Connects to the engine (`DOCKER_HOST` when it is a `unix://` socket,
/// else `/var/run/docker.sock`) and checks that it answers, at bollard's
/// API version or, for an older engine, at the newest one the engine speaks.
///
/// # Errors
///
/// The engine cannot be reached or refuses the connection.
pub async fn connect() -> Result<Docker, bollard::errors::Error> {
    let docker = Docker::connect_with_local_defaults()?;
    let refusal = match docker.ping().await {
        Ok(_) => return Ok(docker),
        Err(error) => error,
    };
    let Some(version) = older_engine_version(&refusal) else {
        return Err(refusal);
    };
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|host| host.starts_with("unix://"))
        .unwrap_or_else(|| DEFAULT_SOCKET.to_owned());
    let docker = Docker::connect_with_unix(&socket, TIMEOUT_SECONDS, &version)?;
    docker.ping().await?;
    Ok(docker)
}

/// The engine's maximum API version, when `error` is its refusal of a newer one.
fn older_engine_version(error: &bollard::errors::Error) -> Option<ClientVersion> {
    let bollard::errors::Error::DockerResponseServerError { message, .. } = error else {
        return None;
    };
    let (_, version) = message.split_once("Maximum supported API version is ")?;
    let (major, minor) = version.trim().trim_end_matches('.').split_once('.')?;
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(message: &str) -> bollard::errors::Error {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 400,
            message: message.to_owned(),
        }
    }

    #[test]
    fn an_older_engines_refusal_names_the_version_to_use() {
        let version = older_engine_version(&refusal(
            "client version 1.53 is too new. Maximum supported API version is 1.41",
        ))
        .unwrap();
        assert_eq!((version.major_version, version.minor_version), (1, 41));
        assert!(older_engine_version(&refusal("no such container: x")).is_none());
        assert!(older_engine_version(&refusal("Maximum supported API version is x")).is_none());
    }
}
