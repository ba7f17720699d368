//! Graceful shutdown on SIGINT (Ctrl-C) or SIGTERM.

/// Resolves on the first SIGINT or SIGTERM, for a graceful shutdown. A second signal
/// while shutting down ends the process at once with exit code 130.
pub async fn shutdown_signal() {
    let signal = next_signal().await;
    tracing::info!("received {signal}, shutting down; press Ctrl-C again to stop at once");
    tokio::spawn(async {
        let signal = next_signal().await;
        eprintln!("error: received {signal} again, stopping at once");
        std::process::exit(130);
    });
}

/// Waits for the next SIGINT or SIGTERM and names it.
async fn next_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            },
            Err(error) => {
                tracing::warn!("cannot listen for SIGTERM ({error}); only Ctrl-C stops orch");
                wait_for_ctrl_c().await
            }
        }
    }
    #[cfg(not(unix))]
    {
        wait_for_ctrl_c().await
    }
}

/// Waits for Ctrl-C; never resolves when it cannot be listened for.
async fn wait_for_ctrl_c() -> &'static str {
    if let Err(error) = tokio::signal::ctrl_c().await {
        tracing::warn!("cannot listen for Ctrl-C ({error})");
        std::future::pending::<()>().await;
    }
    "SIGINT"
}
