//! `view-sync`: what an operator runs by hand. Configuration comes from the same environment
//! variables as the Lambdas (see the README); secrets are read from the environment only, never
//! from flags, so that they stay out of shell history and process lists.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use cli::doctor::{self, DoctorOptions};
use cli::register::{self, Registration};
use cli::{CliError, replay, resync};
use immuta::{ImmutaClient, ImmutaConfig};
use processor::{ProcessorConfig, Reconciler};
use queue::SqsSink;
use secrets::ResolvedEnvironment;
use view_sync_core::{ForwardFilter, Id};

const DEFAULT_NAME: &str = "immuta-view-sync";
const BUDGET: Duration = Duration::from_secs(600);
/// The settings any command may take from Secrets Manager (`<NAME>_SECRET_ARN`), as the
/// functions do.
const SECRET_VARIABLES: &[&str] = &[
    "IMMUTA_API_KEY",
    "DATABASE_URL",
    "WEBHOOK_SECRET",
    "WEBHOOK_SECRETS",
];

/// Operator commands for immuta-view-sync.
#[derive(Parser)]
#[command(name = "view-sync", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Register the webhook in Immuta, once: a webhook with the same name and URL is left as it is.
    /// Needs IMMUTA_URL, IMMUTA_API_KEY (APPLICATION_ADMIN) and WEBHOOK_SECRET.
    Register {
        /// The receiver's Function URL.
        #[arg(long)]
        url: String,
        /// The webhook's name in Immuta.
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
        /// Notification types, comma-separated, or `all` [default: the types that can change views].
        #[arg(long)]
        types: Option<String>,
    },
    /// Reconcile every view: every equalized project and every project with managed views.
    /// Needs the processor's configuration (IMMUTA_*, VIEW_SQL_*, DATABASE_URL, ...).
    Resync {
        /// Fan the projects out through this SQS queue (the processor's) instead of working here.
        #[arg(long)]
        queue_url: Option<String>,
    },
    /// Check a tenant and a database before deploying: Immuta's URL and key, the answers' shapes,
    /// the view SQL endpoint, the database's rights, and optionally the receiver. Exits non-zero
    /// naming each failing check and the variable to fix. Needs the processor's configuration.
    Doctor {
        /// The equalized project to try the view SQL with [default: the first one found].
        #[arg(long)]
        project: Option<String>,
        /// The data source of that project to try [default: its first one of a served type].
        #[arg(long)]
        data_source: Option<String>,
        /// The receiver's Function URL: send it a signed test notification (needs
        /// WEBHOOK_SECRET); it is verified and ignored.
        #[arg(long)]
        url: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Ask Immuta to resend this webhook's failed deliveries (Immuta does not retry on its own).
    Replay {
        /// The webhook's name in Immuta.
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
        /// List what would be replayed without replaying it.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse().command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("view-sync: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), CliError> {
    let deadline = Instant::now() + BUDGET;
    let environment = ResolvedEnvironment::from_environment(SECRET_VARIABLES).await?;
    let env = |name: &str| environment.lookup(name);
    match command {
        Command::Register { url, name, types } => {
            let secret = env("WEBHOOK_SECRET")
                .filter(|s| !s.is_empty())
                .ok_or(CliError::MissingWebhookSecret)?;
            let types = match types.as_deref().map(ForwardFilter::parse).transpose()? {
                None => register::default_types(),
                Some(ForwardFilter::All) => vec!["ALL_NOTIFICATIONS".to_owned()],
                Some(ForwardFilter::Only(types)) => {
                    types.iter().map(|t| t.as_str().to_owned()).collect()
                }
            };
            let client = immuta_client(&env)?;
            match register::register(&client, &name, &url, types, Some(secret), deadline).await? {
                Registration::AlreadyRegistered { id } => {
                    println!("webhook {name} for {url} is already registered (id {id})")
                }
                Registration::Created { id } => {
                    println!("registered webhook {name} for {url} (id {id})")
                }
            }
        }
        Command::Resync { queue_url } => {
            let reconciler = Reconciler::new(ProcessorConfig::from_lookup(env)?)?;
            let projects = resync::projects(&reconciler, deadline).await?;
            match queue_url {
                Some(queue_url) => {
                    let sink =
                        SqsSink::from_environment(queue_url.clone(), queue::command_timeouts())
                            .await;
                    let sent = resync::enqueue(&sink, &projects).await?;
                    println!("queued {sent} project(s) on {queue_url} for the processors");
                }
                None => {
                    let failures = resync::run_here(&reconciler, &projects, deadline).await;
                    println!(
                        "reconciled {} project(s), {} failed",
                        projects.len(),
                        failures.len()
                    );
                    for (key, error) in &failures {
                        eprintln!("  {key}: {error}");
                    }
                    if !failures.is_empty() {
                        return Err(CliError::ProjectsFailed {
                            failed: failures.len(),
                        });
                    }
                }
            }
        }
        Command::Doctor {
            project,
            data_source,
            url,
            output,
        } => {
            let options = DoctorOptions {
                project: project.and_then(Id::new),
                data_source: data_source.and_then(Id::new),
                receiver_url: url,
            };
            let report = doctor::run(&env, &options, deadline).await;
            match output {
                Output::Text => print!("{}", report.to_text()),
                Output::Json => println!("{}", report.to_json()),
            }
            if !report.passed() {
                return Err(CliError::ChecksFailed);
            }
        }
        Command::Replay { name, dry_run } => {
            let client = immuta_client(&env)?;
            let report = replay::replay(&client, &name, dry_run, deadline).await?;
            for (id, status) in &report.replayed {
                match status {
                    Some(status) => {
                        println!("delivery {id}: resent, the receiver answered {status}")
                    }
                    None => println!("delivery {id}: would be resent"),
                }
            }
            println!(
                "{} failed deliveries of {name}{}; {} of other webhooks left alone",
                report.replayed.len(),
                if dry_run { " (dry run)" } else { " resent" },
                report.other_webhooks
            );
        }
    }
    Ok(())
}

fn immuta_client(env: &impl Fn(&str) -> Option<String>) -> Result<ImmutaClient, CliError> {
    Ok(ImmutaClient::new(ImmutaConfig::from_lookup(env)?)?)
}
