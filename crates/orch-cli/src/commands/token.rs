//! `orch token create|ls|revoke`.

use orch_proto::v1::token_service_client::TokenServiceClient;
use orch_proto::v1::{CreateTokenRequest, ListTokensRequest, RevokeTokenRequest};

use super::Context;
use crate::cli_tokens::{TokenCommand, TokenCreateArgs};
use crate::client::{Api, Reply};
use crate::error::usage;
use crate::outln;
use crate::output::{self, Format, table};

/// A token as `--output json` prints it (never its key), as `GET /api/tokens` does.
type TokenView = orch_proto::json::Token;

fn client(api: &Api) -> TokenServiceClient<orch_client::Transport> {
    api.tokens()
}

/// Runs an `orch token` command.
pub async fn run(context: &Context, command: TokenCommand) -> anyhow::Result<()> {
    if let TokenCommand::Create(args) = &command {
        args.scope
            .parse::<orch_core::auth::Scope>()
            .map_err(|error| usage(format!("--scope: {error}")))?;
        if let Some(expires) = &args.expires {
            orch_core::auth::parse_expiry(expires)
                .map_err(|error| usage(format!("--expires: {error}")))?;
        }
    }
    let api = context.connect().await?;
    match command {
        TokenCommand::Create(args) => create(&api, args).await,
        TokenCommand::Ls(output) => list(&api, output.output).await,
        TokenCommand::Revoke { name } => {
            let request = RevokeTokenRequest { name };
            let token = client(&api).revoke_token(request).await.reply(&api)?;
            outln!(
                "Revoked token {}: it is refused from now on, by every server on this database",
                token.name
            )?;
            Ok(())
        }
    }
}

async fn create(api: &Api, args: TokenCreateArgs) -> anyhow::Result<()> {
    let expires_in_seconds = match &args.expires {
        Some(text) => orch_core::auth::parse_expiry(text).map_err(usage)?,
        None => 0,
    };
    let request = CreateTokenRequest {
        name: args.name,
        scope: args.scope.to_lowercase(),
        pools: args.pools,
        expires_in_seconds,
    };
    let reply = client(api).create_token(request).await.reply(api)?;
    let token = reply.token.unwrap_or_default();
    match args.output.output {
        Format::Json => output::print_json(&serde_json::json!({
            "token": TokenView::from(&token),
            "api_key": reply.api_key,
        })),
        Format::Table => {
            outln!("Created token {} (scope {}).", token.name, token.scope)?;
            outln!("Its key, shown this once (only a hash is kept):")?;
            outln!("")?;
            outln!("  {}", reply.api_key)?;
            outln!("")?;
            outln!(
                "Use it with --api-key KEY or ORCH_API_KEY=KEY; revoke it with 'orch token revoke {}'.",
                token.name
            )?;
            Ok(())
        }
    }
}

async fn list(api: &Api, format: Format) -> anyhow::Result<()> {
    let tokens = client(api)
        .list_tokens(ListTokensRequest {})
        .await
        .reply(api)?
        .tokens;
    let views: Vec<TokenView> = tokens.iter().map(TokenView::from).collect();
    if format == Format::Json {
        return output::print_json(&views);
    }
    let mut table = table::new(&[
        "NAME",
        "SCOPE",
        "POOLS",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "STATUS",
    ]);
    for view in &views {
        let status = if view.revoked_at.is_some() {
            "revoked"
        } else {
            "active"
        };
        let dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
        table.add_row(vec![
            view.name.clone(),
            view.scope.clone(),
            output::or_dash(&view.pools.join(",")),
            dash(&view.created_at),
            dash(&view.expires_at),
            dash(&view.last_used),
            status.to_owned(),
        ]);
    }
    outln!("{table}")?;
    Ok(())
}
