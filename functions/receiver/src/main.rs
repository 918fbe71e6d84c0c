// lambda_runtime's service stack over the event type nests deeply enough to need more than the default.
#![recursion_limit = "256"]

use std::convert::Infallible;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::{Error, service_fn};
use queue::SqsSink;
use receiver::{Receiver, ReceiverConfig, SECRET_VARIABLES};
use secrets::ResolvedEnvironment;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_logging();
    let aws = aws_https::from_lambda_environment();
    let config = cold_start(&aws)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "cannot start"))?;
    let sink = SqsSink::new(&aws, config.queue_url.clone(), queue::webhook_timeouts());
    let receiver = Receiver::new(config, sink);
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<ApiGatewayV2httpRequest>| async {
            let request_id = event.context.request_id;
            let answer =
                telemetry::invocation(&request_id, receiver.handle_event(event.payload)).await;
            Ok::<_, Infallible>(answer)
        },
    ))
    .await
}

async fn cold_start(aws: &aws_config::SdkConfig) -> Result<ReceiverConfig, Error> {
    let environment = ResolvedEnvironment::from_environment_with(aws, SECRET_VARIABLES).await?;
    Ok(ReceiverConfig::from_lookup(|name| {
        environment.lookup(name)
    })?)
}
