//! `view-sync doctor --url`: the checks pass against the whole local stack on every configured
//! database, the receiver included, and a wrong webhook secret is named.

use std::time::{Duration, Instant};

use cli::doctor::{self, DoctorOptions, Outcome, RECEIVER};
use e2e::pipeline::{Database, Options, Pipeline, WEBHOOK_SECRET};
use immuta_simulator::tenant::Tenant;

#[tokio::test]
async fn doctor_passes_against_the_local_stack_and_names_a_wrong_webhook_secret() {
    for db in Database::all() {
        let p = Pipeline::start(&db, Tenant::demo(), Options::default()).await;
        let options = DoctorOptions {
            receiver_url: Some(p.function_url.clone()),
            ..DoctorOptions::default()
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let pipeline = &p;
        let lookup = |secret: &'static str| {
            move |name: &str| match name {
                "WEBHOOK_SECRET" => Some(secret.to_owned()),
                other => pipeline.processor_setting(other),
            }
        };
        let report = doctor::run(&lookup(WEBHOOK_SECRET), &options, deadline).await;
        assert!(report.passed(), "{}: {}", db.name(), report.to_text());
        assert!(report.get(RECEIVER).unwrap().detail.contains("ignored"));
        // The probe notification was verified and ignored: nothing reached the queue.
        assert_eq!(p.drain().await.records, 0, "{}", db.name());

        let report = doctor::run(&lookup("another-secret"), &options, deadline).await;
        let receiver = report.get(RECEIVER).unwrap();
        assert_eq!(receiver.outcome, Outcome::Fail, "{}", db.name());
        assert!(receiver.fix.as_deref().unwrap().contains("WEBHOOK_SECRETS"));
        p.finish().await;
    }
}
