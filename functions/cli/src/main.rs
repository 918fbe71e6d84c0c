//! `view-sync`: what an operator runs by hand. Configuration comes from the same environment
//! variables as the Lambdas (see the README); secrets are read from the environment only, never
//! from flags, so that they stay out of shell history and process lists.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use cli::doctor::{self, DoctorOptions};
use cli::progress::Progress;
use cli::register;
use cli::status::Status;
use cli::{CliError, audit, dlq, history, plan, replay, resync};
use immuta::{ImmutaClient, ImmutaConfig};
use processor::{ProcessorConfig, Reconciler};
use queue::SqsSink;
use queue::admin::{QueueAdmin, Redriven};
use secrets::ResolvedEnvironment;
use serde_json::{Value, json};
use view_sync_core::plan::Scope;
use view_sync_core::printable::{for_terminal, printable, refuse_unprintable};
use view_sync_core::time;
use view_sync_core::{ForwardFilter, Id, QueuedBy};
use views::{AuditQuery, StoreConfig, ViewStore, now_micros};

use cli::register::DEFAULT_NAME;
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
    /// How results are printed: for people, or one JSON document for scripts.
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
}

#[derive(Subcommand)]
enum Command {
    /// Register the webhook in Immuta: a global webhook for the receiver. One of the same name
    /// and URL that is already as asked is left as it is; one whose notification types (or
    /// actionType) differ is replaced (deleted, then created: Immuta has no update).
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
        /// The webhook's actionType, only for a tenant that refuses a global webhook without one
        /// [default: none, as Immuta's own global webhook].
        #[arg(long, value_enum)]
        action_type: Option<ActionType>,
        /// Replace the webhook even if it looks the same (Immuta never shows its secret: this is
        /// how a new WEBHOOK_SECRET reaches it).
        #[arg(long)]
        replace: bool,
    },
    /// Reconcile every view: every equalized project and every project with managed views.
    /// Needs the processor's configuration (IMMUTA_*, VIEW_SQL_*, DATABASE_URL, ...).
    Resync {
        /// Fan the projects out through this SQS queue (the processor's) instead of working here.
        #[arg(long)]
        queue_url: Option<String>,
    },
    /// What a full re-sync would do now, applying nothing: each view to create, replace (with a
    /// diff of its SQL), restore from drift (edited or dropped by hand) or drop. Exits 0 when
    /// nothing would change, 2 when something would, 1 on error. Needs the processor's
    /// configuration.
    Plan,
    /// The changes applied to views (created, replaced, restored, dropped, superseded), oldest
    /// first, each with its cause. Needs DATABASE_URL (and VIEW_SCHEMA, LEDGER_TABLE if set).
    Audit {
        /// Only changes since: an age (30m, 6h, 7d) or a UTC time (2026-12-01T10:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Only this view (its name, with or without quotes and schema).
        #[arg(long)]
        view: Option<String>,
        /// Only the views of this project.
        #[arg(long)]
        project: Option<String>,
        /// At most this many, the newest.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// The dead-letter queue: what is stuck, and moving it back.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Views managed per project and their last change, the notifications still failing (the
    /// oldest one's age), and the queues' depth. Needs DATABASE_URL; the queues with their flags.
    Status {
        /// The processor's queue (the stack's QueueUrl output).
        #[arg(long)]
        queue_url: Option<String>,
        /// The dead-letter queue (the stack's DeadLetterQueueUrl output).
        #[arg(long)]
        dlq_url: Option<String>,
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
        /// WEBHOOK_SECRET); it is verified and ignored. The registered webhook must point at it.
        #[arg(long)]
        url: Option<String>,
        /// The webhook's name in Immuta, to read it back and check it.
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
    },
    /// Ask Immuta to resend this webhook's failed deliveries (Immuta does not retry on its own),
    /// each notification once, skipping those a later delivery already brought through.
    Replay {
        /// The webhook's name in Immuta.
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
        /// List what would be replayed without replaying it.
        #[arg(long)]
        dry_run: bool,
        /// Only deliveries since: an age (30m, 6h, 7d) or a UTC time (2026-12-01T10:00:00Z).
        #[arg(long)]
        since: Option<String>,
    },
    /// This webhook's deliveries, from Immuta's webhook history. Needs IMMUTA_URL, IMMUTA_API_KEY.
    History {
        /// The webhook's name in Immuta.
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
        /// Only the failed ones.
        #[arg(long)]
        failed: bool,
        /// Only deliveries since: an age (30m, 6h, 7d) or a UTC time (2026-12-01T10:00:00Z).
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// The dead letters decoded, with the error the processor last kept for each (DATABASE_URL
    /// set), left in the queue.
    List {
        #[arg(long)]
        dlq_url: String,
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Moves the dead letters back to the queue: SQS's message move task where the API has
    /// one, else receive, send and delete, a batch at a time (never losing one).
    Redrive {
        #[arg(long)]
        dlq_url: String,
        #[arg(long)]
        queue_url: String,
        /// Move at most this many (one batch at a time, without a move task).
        #[arg(long)]
        max: Option<usize>,
    },
}

impl Command {
    /// The names the operator passed (of views, projects, data sources, webhooks), each with its
    /// flag: matched against what others wrote, so held to what a terminal shows as it is.
    fn names(&self) -> Vec<(&'static str, &str)> {
        let named = match self {
            Self::Audit { view, project, .. } => {
                vec![("--view", view.as_ref()), ("--project", project.as_ref())]
            }
            Self::Doctor {
                project,
                data_source,
                name,
                ..
            } => vec![
                ("--project", project.as_ref()),
                ("--data-source", data_source.as_ref()),
                ("--name", Some(name)),
            ],
            Self::Register { name, .. }
            | Self::Replay { name, .. }
            | Self::History { name, .. } => {
                vec![("--name", Some(name))]
            }
            Self::Resync { .. } | Self::Plan | Self::Dlq { .. } | Self::Status { .. } => vec![],
        };
        named
            .into_iter()
            .filter_map(|(flag, name)| Some((flag, name?.as_str())))
            .collect()
    }
}

/// A webhook's `actionType` (IMMUTA_API.md): `triggered` fires for events the registering user
/// triggers, `received` for events that user receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ActionType {
    Triggered,
    Received,
}

impl ActionType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Triggered => "triggered",
            Self::Received => "received",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

/// What a command found, beyond succeeding.
enum Finding {
    Nothing,
    /// Something would change (`plan`): exit 2, so that CI and cron can alert on drift.
    Changes,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = cli.output;
    match run(cli.command, output).await {
        Ok(Finding::Nothing) => ExitCode::SUCCESS,
        Ok(Finding::Changes) => ExitCode::from(2),
        Err(error) => {
            match output {
                // An error is one line: a line break in it came from outside and is escaped.
                Output::Text => eprintln!("view-sync: {}", printable(&error.to_string())),
                Output::Json if error.is_in_the_output() => {}
                Output::Json => println!("{}", json!({ "error": error.to_string() })),
            }
            ExitCode::FAILURE
        }
    }
}

/// Prints `text` for people, or `json` for scripts. Every value from outside in `text` was made
/// printable where it was interpolated; what acts on a terminal and still got through is escaped
/// here.
fn show<J: std::fmt::Display>(
    output: Output,
    text: impl FnOnce() -> String,
    json: impl FnOnce() -> J,
) {
    match output {
        Output::Text => print!("{}", for_terminal(&text())),
        Output::Json => println!("{}", json()),
    }
}

async fn run(command: Command, output: Output) -> Result<Finding, CliError> {
    for (flag, name) in command.names() {
        refuse_unprintable(flag, name)?;
    }
    let deadline = Instant::now() + BUDGET;
    let environment = ResolvedEnvironment::from_environment(SECRET_VARIABLES).await?;
    let env = |name: &str| environment.lookup(name);
    match command {
        Command::Register {
            url,
            name,
            types,
            action_type,
            replace,
        } => {
            let secret = env("WEBHOOK_SECRET")
                .filter(|s| !s.is_empty())
                .ok_or(CliError::MissingWebhookSecret)?;
            let client = immuta_client(&env)?;
            // What the tenant offers decides the default types, and refuses what it lacks: a
            // webhook Immuta stored with other types than asked would be replaced at every run.
            let offered = client.webhook_actions(deadline).await?;
            let types = match types.as_deref().map(ForwardFilter::parse).transpose()? {
                None | Some(ForwardFilter::ViewAffecting) => {
                    register::default_types_offered(Some(&offered))
                }
                Some(ForwardFilter::All) => vec!["ALL_NOTIFICATIONS".to_owned()],
                Some(ForwardFilter::Only(types)) => register::offered_only(&types, &offered)?,
            };
            let wanted = register::Wanted {
                name,
                url,
                notification_types: types,
                action_type: action_type.map(|t| t.as_str().to_owned()),
                replace,
            };
            let registration = register::register(&client, &wanted, Some(secret), deadline).await?;
            show(
                output,
                || register::to_text(&wanted, &registration),
                || register::to_json(&wanted, &registration),
            );
        }
        Command::Resync { queue_url } => {
            let reconciler = Reconciler::new(ProcessorConfig::from_lookup(env)?)?;
            let projects = resync::projects(&reconciler, deadline).await?;
            match queue_url {
                Some(queue_url) => {
                    let sink =
                        SqsSink::from_environment(queue_url.clone(), queue::command_timeouts())
                            .await;
                    let sent = resync::enqueue(&sink, &projects, QueuedBy::Resync).await?;
                    show(
                        output,
                        || format!("queued {sent} project(s) on {queue_url} for the processors\n"),
                        || json!({"queued": sent, "queueUrl": queue_url}),
                    );
                }
                None => {
                    let failures = resync::run_here(&reconciler, &projects, deadline).await;
                    show(
                        output,
                        || {
                            let mut text = format!(
                                "reconciled {} project(s), {} failed\n",
                                projects.len(),
                                failures.len()
                            );
                            for (key, error) in &failures {
                                text.push_str(&format!(
                                    "  {}: {}\n",
                                    printable(&key.to_string()),
                                    printable(&error.to_string())
                                ));
                            }
                            text
                        },
                        || {
                            let failed: Vec<Value> = failures
                                .iter()
                                .map(|(key, e)| json!({"key": key.to_string(), "error": e.to_string()}))
                                .collect();
                            json!({"reconciled": projects.len(), "failures": failed})
                        },
                    );
                    if !failures.is_empty() {
                        return Err(CliError::ProjectsFailed {
                            failed: failures.len(),
                        });
                    }
                }
            }
        }
        Command::Plan => {
            let reconciler = Reconciler::new(ProcessorConfig::from_lookup(env)?)?;
            let preview = plan::plan(&reconciler, deadline).await?;
            let dialect = reconciler.store().dialect();
            show(
                output,
                || plan::to_text(&preview, dialect),
                || plan::to_json(&preview, dialect),
            );
            if !preview.failures.is_empty() {
                return Err(CliError::PlanIncomplete {
                    failed: preview.failures.len(),
                });
            }
            if preview.views_changing() > 0 {
                return Ok(Finding::Changes);
            }
        }
        Command::Audit {
            since,
            view,
            project,
            limit,
        } => {
            let store = ViewStore::connect_lazy(&StoreConfig::from_lookup(env)?)?;
            let query = AuditQuery {
                since: since_micros(since.as_deref())?,
                view_name: view,
                project_id: project.and_then(Id::new),
                limit: Some(limit),
            };
            let entries = store.audit(&query).await?;
            show(
                output,
                || audit::to_text(&entries),
                || audit::to_json(&entries),
            );
        }
        Command::Dlq {
            command: DlqCommand::List { dlq_url, limit },
        } => {
            let admin = QueueAdmin::from_environment(queue::command_timeouts()).await;
            let peeked = admin.peek(&dlq_url, limit).await?;
            // The errors are kept in the target database; without it they are unknown.
            let failures = match StoreConfig::from_lookup(env) {
                Ok(config) => ViewStore::connect_lazy(&config)?
                    .failures()
                    .await
                    .unwrap_or_else(|e| {
                        eprintln!(
                            "view-sync: the processor's errors could not be read: {}",
                            printable(&e.to_string())
                        );
                        Vec::new()
                    }),
                Err(_) => Vec::new(),
            };
            let letters = dlq::dead_letters(peeked, &failures);
            show(
                output,
                || dlq::to_text(&letters, &dlq_url),
                || dlq::to_json(&letters),
            );
        }
        Command::Dlq {
            command:
                DlqCommand::Redrive {
                    dlq_url,
                    queue_url,
                    max,
                },
        } => {
            let admin = QueueAdmin::from_environment(queue::command_timeouts()).await;
            let mut progress = Progress::new("moved back", None);
            let redriven = dlq::redrive(&admin, &dlq_url, &queue_url, max, deadline, |moved| {
                progress.set(moved)
            })
            .await;
            progress.finish();
            let (moved, how) = match redriven? {
                Redriven::MoveTask { moved } => (moved, "SQS's message move task"),
                Redriven::Copied { moved } => (moved as u64, "receive, send, delete"),
            };
            show(
                output,
                || format!("moved {moved} dead letter(s) back to {queue_url} ({how})\n"),
                || json!({"moved": moved, "method": how, "queueUrl": queue_url}),
            );
        }
        Command::Status { queue_url, dlq_url } => {
            let store = ViewStore::connect_lazy(&StoreConfig::from_lookup(env)?)?;
            let rows = store.rows(&Scope::Everything).await?;
            let mut status = Status::new(
                &rows,
                store.last_change_per_project().await?,
                &store.failures().await?,
                now_micros(),
            );
            if queue_url.is_some() || dlq_url.is_some() {
                let admin = QueueAdmin::from_environment(queue::command_timeouts()).await;
                if let Some(url) = &queue_url {
                    status.queue = Some(admin.depth(url).await?);
                }
                if let Some(url) = &dlq_url {
                    status.dead_letters = Some(admin.depth(url).await?);
                }
            }
            show(output, || status.to_text(), || status.to_json());
        }
        Command::Doctor {
            project,
            data_source,
            url,
            name,
        } => {
            let options = DoctorOptions {
                project: project.and_then(Id::new),
                data_source: data_source.and_then(Id::new),
                receiver_url: url,
                webhook_name: name,
            };
            let report = doctor::run(&env, &options, deadline).await;
            show(output, || report.to_text(), || report.to_json());
            if !report.passed() {
                return Err(CliError::ChecksFailed);
            }
        }
        Command::Replay {
            name,
            dry_run,
            since,
        } => {
            let client = immuta_client(&env)?;
            let since = since_micros(since.as_deref())?;
            let mut progress: Option<Progress> = None;
            let report = replay::replay(&client, &name, dry_run, since, deadline, |done, total| {
                progress
                    .get_or_insert_with(|| Progress::new("deliveries resent", Some(total as u64)))
                    .set(done as u64)
            })
            .await?;
            if let Some(progress) = progress {
                progress.finish();
            }
            show(
                output,
                || report.to_text(&name, dry_run),
                || report.to_json(&name, dry_run),
            );
        }
        Command::History {
            name,
            failed,
            since,
        } => {
            let client = immuta_client(&env)?;
            let since = since_micros(since.as_deref())?;
            let entries = history::history(&client, &name, failed, since, deadline).await?;
            show(
                output,
                || history::to_text(&entries, &name),
                || history::to_json(&entries),
            );
        }
    }
    Ok(Finding::Nothing)
}

/// `--since` as microseconds since the Unix epoch.
fn since_micros(since: Option<&str>) -> Result<Option<i64>, CliError> {
    Ok(since
        .map(|text| time::parse_since(text, now_micros()))
        .transpose()?)
}

fn immuta_client(env: &impl Fn(&str) -> Option<String>) -> Result<ImmutaClient, CliError> {
    Ok(ImmutaClient::new(ImmutaConfig::from_lookup(env)?)?)
}
