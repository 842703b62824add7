//! `sheepdog mock`: the built-in server, until Ctrl-C.

use std::net::SocketAddr;

use sheepdog::{Exit, MockConfig, MockServer};

use super::{Failure, MockArgs, Outcome};

pub async fn serve(args: MockArgs) -> Outcome {
    let config = MockConfig::try_from(&args).map_err(Failure::usage)?;
    let addr = SocketAddr::new(args.host, args.port);
    let server = MockServer::start(config, addr)
        .await
        .map_err(|e| Failure::usage(format!("cannot listen on {addr}: {e}")))?;
    eprintln!(
        "sheepdog mock: serving {} (stats at http://{}/mock/stats; Ctrl-C to stop)",
        server.base_url(),
        server.addr()
    );
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    Ok(Exit::Success)
}
