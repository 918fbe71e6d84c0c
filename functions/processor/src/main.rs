// lambda_runtime's service stack over the event type, with the metrics scope around the handler,
// nests deeply enough to need more than the default.
#![recursion_limit = "256"]

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use processor::batch;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_logging();
    let aws = aws_https::from_lambda_environment();
    let reconciler = processor::cold_start(&aws, |name| std::env::var(name).ok())
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
