//! `make demo`'s story, with the receiver and processor as real Lambda binaries under
//! `cargo lambda watch`, configured as deployed (their secrets read from Secrets Manager at cold
//! start), so the demo cannot rot.

use e2e::pipeline::Runtime;

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_story_converges_under_cargo_lambda_watch() {
    e2e::demo::run(Runtime::CargoLambdaWatch)
        .await
        .expect("the demo story");
}
