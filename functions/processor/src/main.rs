use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use processor::{ProcessorConfig, Reconciler, SECRET_VARIABLES, batch};
use secrets::ResolvedEnvironment;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_logging();
    let reconciler = cold_start()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "cannot start"))?;
    run(service_fn(|event: LambdaEvent<_>| async {
        batch::handle(&reconciler, event).await.map_err(Error::from)
    }))
    .await
}

async fn cold_start() -> Result<Reconciler, Error> {
    let environment = ResolvedEnvironment::from_environment(SECRET_VARIABLES).await?;
    let config = ProcessorConfig::from_lookup(|name| environment.lookup(name))?;
    Ok(Reconciler::new(config)?)
}
