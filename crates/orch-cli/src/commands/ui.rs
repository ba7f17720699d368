//! `orch ui`: a fresh one-time link that opens the dashboard logged in.

use orch_proto::v1 as proto;

use super::Context;
use crate::client::Reply;
use crate::outln;

/// Prints (and with `open`, opens) a dashboard link for the CLI's own token.
pub async fn run(context: &Context, open: bool) -> anyhow::Result<()> {
    let api = context.connect().await?;
    let link = api
        .server()
        .create_login_link(proto::CreateLoginLinkRequest {})
        .await
        .reply(&api)?;
    let base = api.url();
    let base = base.trim_end_matches('/');
    let url = if link.code.is_empty() {
        // The server does not authenticate: the dashboard needs no login.
        format!("{base}/")
    } else {
        format!("{base}/login?code={}", link.code)
    };
    if link.code.is_empty() {
        outln!("{url}")?;
    } else {
        outln!("{}", orch_server::login_link_line(&url))?;
    }
    if open {
        open_in_browser(&url)?;
    }
    Ok(())
}

/// Hands `url` to the desktop's opener (`xdg-open`, or `open` on macOS).
fn open_in_browser(url: &str) -> anyhow::Result<()> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let status = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => anyhow::bail!(
            "{opener} could not open the link ({status}): open the link printed above yourself"
        ),
        Err(error) => anyhow::bail!(
            "cannot run {opener} to open a browser ({error}): open the link printed above yourself"
        ),
    }
}
