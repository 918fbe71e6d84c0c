// lambda_runtime's service stack over the event type, with the metrics scope around the handler,
// nests deeply enough to need more than the default.
#![recursion_limit = "256"]

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use processor::{ProcessorConfig, Reconciler, SECRET_VARIABLES, batch};
use queue::SqsSink;
use secrets::ResolvedEnvironment;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_logging();
    let reconciler = cold_start()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "cannot start"))?;
    run(service_fn(|event: LambdaEvent<_>| async {
        let request_id = event.context.request_id.clone();
        telemetry::invocation(&request_id, batch::handle(&reconciler, event))
            .await
            .map_err(Error::from)
    }))
    .await
}

async fn cold_start() -> Result<Reconciler, Error> {
    let aws = aws_https::from_lambda_environment();
    let environment = ResolvedEnvironment::from_environment_with(&aws, SECRET_VARIABLES).await?;
    let config = ProcessorConfig::from_lookup(|name| environment.lookup(name))?;
    let queue_url = config.queue_url.clone();
    let reconciler = Reconciler::new(config)?;
    Ok(match queue_url {
        // The scheduled re-sync's fan-out; an operator command's timeouts, since no webhook
        // waits on it.
        Some(url) => {
            reconciler.with_fan_out_queue(SqsSink::new(&aws, url, queue::command_timeouts()))
        }
        None => reconciler,
    })
}
