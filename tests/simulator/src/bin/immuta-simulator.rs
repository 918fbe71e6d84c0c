//! Runs the Immuta simulator until interrupted.

use std::net::SocketAddr;

use clap::Parser;
use immuta_simulator::Simulator;
use immuta_simulator::tenant::Tenant;
use immuta_simulator::webhooks::Shape;

/// A stateful stand-in for an Immuta tenant (API, view SQL, signed webhooks, faults).
#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8900")]
    listen: SocketAddr,
    /// The API key clients must present.
    #[arg(long, env = "SIMULATOR_API_KEY", default_value = "simulator-api-key")]
    api_key: String,
    /// Deliver webhooks to this URL (more can be registered with POST /webhooks).
    #[arg(long)]
    webhook_url: Option<String>,
    /// Shared secret to sign delivered webhooks with.
    #[arg(long, env = "SIMULATOR_WEBHOOK_SECRET")]
    webhook_secret: Option<String>,
    /// Deliver v1 notifications in the history envelope instead of the flat shape.
    #[arg(long)]
    envelope: bool,
    /// Where to serve view SQL (a VIEW_SQL_PATH template). Immuta documents no view SQL
    /// endpoint: the default is the simulator's own path, named so that no one takes it for
    /// Immuta's.
    #[arg(long, default_value = immuta_simulator::DEFAULT_VIEW_SQL_PATH)]
    view_sql_path: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let simulator = Simulator::start_on(
        args.listen,
        Tenant::demo(),
        &args.api_key,
        &args.view_sql_path,
    )
    .await?;
    if let Some(url) = &args.webhook_url {
        let shape = if args.envelope {
            Shape::Envelope
        } else {
            Shape::Flat
        };
        simulator.add_webhook(url, args.webhook_secret.as_deref(), shape);
    }
    println!(
        "Immuta simulator listening on {} (control API under /_sim; view SQL, the simulator's own \
         endpoint, at {})",
        simulator.url, args.view_sql_path
    );
    tokio::signal::ctrl_c().await
}
