use std::convert::Infallible;

use lambda_http::{Error, run, service_fn};
use receiver::{Receiver, ReceiverConfig, SECRET_VARIABLES, SqsSink};
use secrets::ResolvedEnvironment;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_logging();
    let config = cold_start()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "cannot start"))?;
    let sink = SqsSink::from_environment(config.queue_url.clone()).await;
    let receiver = Receiver::new(config, sink);
    run(service_fn(|request| async {
        Ok::<_, Infallible>(receiver.handle(request).await)
    }))
    .await
}

async fn cold_start() -> Result<ReceiverConfig, Error> {
    let environment = ResolvedEnvironment::from_environment(SECRET_VARIABLES).await?;
    Ok(ReceiverConfig::from_lookup(|name| {
        environment.lookup(name)
    })?)
}
