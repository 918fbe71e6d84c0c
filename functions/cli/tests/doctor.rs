//! `view-sync doctor`, the binary, against the Immuta simulator and SQLite: it passes with the
//! demo's configuration, and fails naming the check and the variable with a wrong view SQL path,
//! a wrong API key, or a database it cannot reach.

use std::process::Output;

use immuta_simulator::Simulator;
use immuta_simulator::tenant::Tenant;
use serde_json::Value;

const KEY: &str = "doctor-test-key";

struct Setup {
    sim: Simulator,
    dir: std::path::PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn setup(name: &str) -> Setup {
    let sim = Simulator::start(Tenant::demo(), KEY).await.unwrap();
    let dir = std::env::temp_dir().join(format!("ivs_doctor_{name}_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Setup { sim, dir }
}

impl Setup {
    /// The demo's configuration, with `changes` applied.
    async fn doctor(&self, changes: &[(&str, &str)], args: &[&str]) -> Output {
        let mut env: Vec<(String, String)> = self
            .sim
            .processor_settings()
            .into_iter()
            .chain([
                (
                    "DATABASE_URL",
                    format!("sqlite://{}/views.db", self.dir.display()),
                ),
                ("IMMUTA_TIMEOUT_MS", "2000".into()),
                ("IMMUTA_MAX_ATTEMPTS", "2".into()),
            ])
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        for (name, value) in changes {
            env.retain(|(n, _)| n != name);
            env.push(((*name).into(), (*value).into()));
        }
        tokio::process::Command::new(env!("CARGO_BIN_EXE_view-sync"))
            .arg("doctor")
            .args(args)
            .env_clear()
            .envs(env)
            .output()
            .await
            .unwrap()
    }
}

fn parse(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

#[tokio::test]
async fn the_demo_configuration_passes_every_check() {
    let s = setup("pass").await;
    let output = s.doctor(&[], &[]).await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("✓ view SQL"), "{text}");
    assert!(
        text.contains("SELECT '3' AS data_source_id"),
        "the SQL is shown: {text}"
    );
    assert!(text.contains("carry no disabled state"), "{text}");
    assert!(text.contains("IMMUTA_AUTH=token would also work"), "{text}");
    assert!(!text.contains('✗'), "{text}");
}

#[tokio::test]
async fn a_wrong_view_sql_path_fails_naming_it() {
    let s = setup("path").await;
    let output = s
        .doctor(
            &[("VIEW_SQL_PATH", "/views/{projectId}/{dataSourceId}")],
            &["--output", "json"],
        )
        .await;
    assert_eq!(output.status.code(), Some(1));
    let report = parse(&output);
    let view_sql = check(&report, "view SQL (VIEW_SQL_PATH, VIEW_SQL_JSON_POINTER)");
    assert_eq!(view_sql["outcome"], "fail");
    assert!(
        view_sql["fix"]
            .as_str()
            .unwrap()
            .contains("VIEW_SQL_PATH answered 404")
    );
    assert_eq!(check(&report, "project search")["outcome"], "pass");

    let output = s
        .doctor(
            &[("VIEW_SQL_JSON_POINTER", "/query")],
            &["--output", "json"],
        )
        .await;
    let view_sql = check(
        &parse(&output),
        "view SQL (VIEW_SQL_PATH, VIEW_SQL_JSON_POINTER)",
    )
    .clone();
    assert!(
        view_sql["fix"]
            .as_str()
            .unwrap()
            .contains("VIEW_SQL_JSON_POINTER"),
        "{view_sql}"
    );
}

#[tokio::test]
async fn a_wrong_api_key_fails_naming_it_and_stays_secret() {
    let s = setup("key").await;
    let output = s
        .doctor(
            &[("IMMUTA_API_KEY", "not-the-key-s3cret")],
            &["--output", "json"],
        )
        .await;
    assert_eq!(output.status.code(), Some(1));
    let everything = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!everything.contains("s3cret"), "{everything}");
    let report = parse(&output);
    let auth = check(&report, "Immuta answers and accepts the key");
    assert_eq!(auth["outcome"], "fail");
    assert!(
        auth["fix"].as_str().unwrap().contains("IMMUTA_API_KEY"),
        "{auth}"
    );
    assert_eq!(
        check(&report, "view SQL (VIEW_SQL_PATH, VIEW_SQL_JSON_POINTER)")["outcome"],
        "skipped"
    );
    // The database is checked all the same.
    assert_eq!(
        check(&report, "database, VIEW_SCHEMA and the ledger")["outcome"],
        "pass"
    );
}

#[tokio::test]
async fn an_unreachable_database_fails_naming_it() {
    let s = setup("db").await;
    let output = s
        .doctor(
            &[(
                "DATABASE_URL",
                "postgres://view_sync:pa55word@127.0.0.1:1/analytics",
            )],
            &["--output", "json"],
        )
        .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&output.stdout).contains("pa55word"));
    let report = parse(&output);
    let database = check(&report, "database, VIEW_SCHEMA and the ledger");
    assert_eq!(database["outcome"], "fail");
    assert!(
        database["fix"].as_str().unwrap().contains("DATABASE_URL"),
        "{database}"
    );
    assert_eq!(
        check(&report, "view SQL (VIEW_SQL_PATH, VIEW_SQL_JSON_POINTER)")["outcome"],
        "pass"
    );
}

#[tokio::test]
async fn a_missing_setting_is_named() {
    let s = setup("missing").await;
    let output = s
        .doctor(&[("VIEW_SQL_PATH", "")], &["--output", "json"])
        .await;
    assert_eq!(output.status.code(), Some(1));
    let report = parse(&output);
    let configuration = check(&report, "configuration");
    assert!(
        configuration["fix"]
            .as_str()
            .unwrap()
            .contains("VIEW_SQL_PATH"),
        "{configuration}"
    );
}

/// With `VIEW_GRANT_ROLES` on MariaDB: a user that may not read `mysql.tables_priv` fails the
/// grants check, naming the table; one that may passes it. When TEST_MYSQL_URL is set.
#[tokio::test]
async fn grants_that_cannot_be_read_fail_naming_the_rights() {
    let Ok(admin_url) = std::env::var("TEST_MYSQL_URL") else {
        return;
    };
    views::install_drivers();
    let admin = sqlx::AnyPool::connect(&admin_url).await.unwrap();
    let user = format!("ivs_doctor_{}", std::process::id());
    let run = |statement: String| {
        let admin = admin.clone();
        async move {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&admin)
                .await
                .unwrap();
        }
    };
    run(format!("CREATE DATABASE `{user}`")).await;
    run(format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")).await;
    run(format!(
        "GRANT ALL PRIVILEGES ON `{user}`.* TO '{user}'@'%'"
    ))
    .await;
    let host = admin_url
        .split_once('@')
        .unwrap()
        .1
        .split('/')
        .next()
        .unwrap();
    let user_url = format!("mysql://{user}:pw@{host}/{user}");

    let s = setup("grants").await;
    let grant_roles = ("VIEW_GRANT_ROLES", "readers_{project_id}");
    let schema = ("VIEW_SCHEMA", user.as_str());
    let refused = s
        .doctor(
            &[("DATABASE_URL", user_url.as_str()), schema, grant_roles],
            &["--output", "json"],
        )
        .await;
    let allowed = s
        .doctor(
            &[("DATABASE_URL", admin_url.as_str()), schema, grant_roles],
            &["--output", "json"],
        )
        .await;
    run(format!("DROP DATABASE IF EXISTS `{user}`")).await;
    run(format!("DROP USER IF EXISTS '{user}'@'%'")).await;

    assert_eq!(refused.status.code(), Some(1));
    let report = parse(&refused);
    let grants = check(
        &report,
        "the database user can see who reads the views (VIEW_GRANT_ROLES)",
    );
    assert_eq!(grants["outcome"], "fail", "{grants}");
    assert!(
        grants["detail"]
            .as_str()
            .unwrap()
            .contains("mysql.tables_priv"),
        "{grants}"
    );
    let report = parse(&allowed);
    let grants = check(
        &report,
        "the database user can see who reads the views (VIEW_GRANT_ROLES)",
    );
    assert_eq!(grants["outcome"], "pass", "{grants}");
}

#[tokio::test]
async fn a_data_source_the_key_cannot_read_fails_naming_the_permission() {
    let s = setup("unreadable").await;
    s.sim
        .tenant()
        .data_sources
        .get_mut(&3)
        .unwrap()
        .unreadable_by_key = true;
    let output = s.doctor(&[], &["--output", "json"]).await;
    assert_eq!(output.status.code(), Some(1));
    let report = parse(&output);
    let readable = check(
        &report,
        "the key can read every data source of the equalized projects",
    );
    assert_eq!(readable["outcome"], "fail", "{readable}");
    let detail = readable["detail"].as_str().unwrap();
    assert!(
        detail.contains(
            "answer 404 (or 403) to this key though their project lists them: data source 3 (Date Dim)"
        ),
        "{detail}"
    );
    assert!(
        readable["fix"]
            .as_str()
            .unwrap()
            .starts_with("give the API key's user GOVERNANCE"),
        "{readable}"
    );
}

#[tokio::test]
async fn the_registered_webhook_is_read_back_and_checked() {
    let s = setup("registered").await;
    // Nothing listens there: the receiver check fails at once, and is not what this tests.
    let url = "http://127.0.0.1:9/";
    let read_back = async || {
        let output = s.doctor(&[], &["--output", "json", "--url", url]).await;
        check(
            &parse(&output),
            "the webhook is registered: global, for the receiver, with the types",
        )
        .clone()
    };
    // Before any registration, a doctor with --url says what to run.
    let registered = read_back().await;
    assert_eq!(registered["outcome"], "fail");
    assert!(
        registered["fix"]
            .as_str()
            .unwrap()
            .contains("view-sync register --url http://127.0.0.1:9/"),
        "{registered}"
    );

    // A webhook of our name that misses types and fires only for its user's actions.
    let client = reqwest::Client::new();
    let create = |types: Vec<&str>, action_type: Option<&str>| {
        let mut hook = serde_json::json!({"url": url, "name": "immuta-view-sync", "global": true,
            "notificationType": types});
        if let Some(action_type) = action_type {
            hook["actionType"] = action_type.into();
        }
        client
            .post(format!("{}/webhooks", s.sim.url))
            .header("authorization", KEY)
            .header("content-type", "application/json")
            .body(serde_json::json!({"webhooks": [hook]}).to_string())
            .send()
    };
    create(vec!["policyUpdated"], Some("triggered"))
        .await
        .unwrap();
    let registered = read_back().await;
    assert_eq!(registered["outcome"], "fail");
    let detail = registered["detail"].as_str().unwrap();
    // Immuta's list shows no actionType, so only the types can be told apart there.
    assert!(
        detail.contains("it is not subscribed to dataSourceUpdated"),
        "{detail}"
    );

    // As `view-sync register` leaves it: global, no actionType, every view-affecting type.
    client
        .delete(format!("{}/webhooks/1", s.sim.url))
        .header("authorization", KEY)
        .send()
        .await
        .unwrap();
    create(
        cli::register::default_types()
            .iter()
            .map(String::as_str)
            .collect(),
        None,
    )
    .await
    .unwrap();
    let registered = read_back().await;
    assert_eq!(registered["outcome"], "pass", "{registered}");
}
