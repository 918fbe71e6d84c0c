use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use processor::{ProcessorConfig, Reconciler, batch};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_logging();
    let config =
        ProcessorConfig::from_env().inspect_err(|e| tracing::error!(error = %e, "cannot start"))?;
    let reconciler = Reconciler::new(config)?;
    run(service_fn(|event: LambdaEvent<_>| async {
        batch::handle(&reconciler, event).await.map_err(Error::from)
    }))
    .await
}
