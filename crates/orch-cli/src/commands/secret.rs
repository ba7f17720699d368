//! `orch secret set|ls|delete`: values go to the server, never come back.

use std::io::IsTerminal;

use anyhow::Context as _;
use comfy_table::Cell;
use orch_proto::json;
use orch_proto::v1 as proto;

use super::Context;
use crate::cli_security::{SecretCommand, SecretSetArgs};
use crate::client::Reply;
use crate::error::usage;
use crate::outln;
use crate::output::{self, Format, table, time};

/// Runs an `orch secret` command.
pub async fn run(context: &Context, command: SecretCommand) -> anyhow::Result<()> {
    // Read the value before connecting: a missing file needs no server.
    let value = match &command {
        SecretCommand::Set(args) => Some(read_value(args)?),
        _ => None,
    };
    let api = context.connect().await?;
    let mut client = api.secrets();
    match command {
        SecretCommand::Set(args) => {
            let request = proto::SetSecretRequest {
                name: args.name.clone(),
                value: value.unwrap_or_default(),
            };
            let reply = client.set_secret(request).await.reply(&api)?;
            let verb = if reply.created { "Created" } else { "Replaced" };
            outln!(
                "{verb} secret {}. Deployments receive it as ${} when their deploy file lists \
                 it: secrets = [\"{}\"]",
                args.name,
                args.name,
                args.name
            )?;
        }
        SecretCommand::Ls(output) => {
            let reply = client
                .list_secrets(proto::ListSecretsRequest {})
                .await
                .reply(&api)?;
            let secrets: Vec<json::Secret> = reply.secrets.iter().map(json::Secret::from).collect();
            match output.output {
                Format::Table => print_table(&reply.secrets)?,
                Format::Json => output::print_json(&secrets)?,
            }
        }
        SecretCommand::Delete { name } => {
            let request = proto::DeleteSecretRequest { name: name.clone() };
            client.delete_secret(request).await.reply(&api)?;
            outln!("Deleted secret {name}")?;
        }
    }
    Ok(())
}

/// The value to set: the file's content or stdin, without one trailing newline.
fn read_value(args: &SecretSetArgs) -> anyhow::Result<String> {
    let mut value = match &args.from_file {
        Some(path) => orch_core::input_file::read_text(path)
            .with_context(|| format!("cannot read the secret's value from {}", path.display()))?,
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!(
                    "Type the value of {}, then press Enter and Ctrl-D (or pipe it: \
                     `orch secret set {} < file`):",
                    args.name, args.name
                );
            }
            orch_core::input_file::read_limited(stdin.lock(), "the secret's value on stdin")
                .context("cannot read the secret's value from stdin")?
        }
    };
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    if value.is_empty() {
        return Err(usage(format!(
            "the value of secret {} is empty; pipe it on stdin (e.g. `printf %s \"$KEY\" | orch \
             secret set {}`) or pass --from-file FILE",
            args.name, args.name
        )));
    }
    Ok(value)
}

fn print_table(secrets: &[proto::Secret]) -> std::io::Result<()> {
    let mut rows = table::new(&["NAME", "UPDATED", "USED BY"]);
    for secret in secrets {
        rows.add_row([
            Cell::new(&secret.name),
            Cell::new(time::timestamp_with_age(secret.updated_at_micros)),
            Cell::new(output::or_dash(&secret.deployments.join(", "))),
        ]);
    }
    table::print(
        rows,
        "No secrets. Set one with 'printf %s \"$VALUE\" | orch secret set NAME'.",
    )
}
