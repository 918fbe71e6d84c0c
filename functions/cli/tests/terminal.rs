//! What others wrote, through the binary to the operator's terminal: `audit` and `status` over a
//! SQLite ledger holding hostile names and errors print them escaped (and `--output json` as they
//! are); a name holding such characters is refused as an argument.

use std::path::PathBuf;
use std::process::Output;

use sqlx::AssertSqlSafe;
use views::{MessageFailure, StoreConfig, ViewStore};

/// Retitles the terminal, rings, and clears the screen.
const HOSTILE: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J";
const SHOWN: &str = "\\u{1b}]0;owned\\u{7}\\u{1b}[2J";

struct Ledger {
    dir: PathBuf,
    url: String,
}

impl Drop for Ledger {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A ledger whose audit trail and failures hold what a hostile writer put there.
async fn hostile_ledger(name: &str) -> Ledger {
    let dir = std::env::temp_dir().join(format!("ivs_terminal_{name}_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/views.db", dir.display());
    let config = StoreConfig::from_lookup(|k| (k == "DATABASE_URL").then(|| url.clone())).unwrap();
    let store = ViewStore::connect_lazy(&config).unwrap();
    store.ensure_ledger().await.unwrap();
    sqlx::query(AssertSqlSafe(
        "INSERT INTO immuta_view_sync_ledger_audit (applied_at, project_id, data_source_id, \
         view_name, action, detail, old_digest, new_digest, observed_at, origin, message_ids, \
         notification_types, request_id) VALUES (0, ?, '20', ?, 'created', ?, '', '', 0, \
         'webhook', 'm1', 'policyUpdated', 'r1')",
    ))
    .bind("1\u{202e}0")
    .bind(format!("\"v{HOSTILE}\""))
    .bind("\nno changes recorded for this query")
    .execute(store.pool())
    .await
    .unwrap();
    store
        .record_failures(&[MessageFailure {
            message_id: "m1".into(),
            asked: "policyUpdated".into(),
            error: format!("Immuta answered 500 for /project/10: {HOSTILE}"),
            received_at_ms: 0,
            receive_count: 1,
            failed_at: 0,
        }])
        .await
        .unwrap();
    Ledger { dir, url }
}

async fn view_sync(env: &[(&str, &str)], args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_view-sync"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap()
}

fn assert_nothing_acts(output: &Output) {
    for stream in [&output.stdout, &output.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(
            !text.contains(['\u{1b}', '\u{7}', '\u{202e}']),
            "{}",
            text.escape_debug()
        );
    }
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn audit_and_status_show_what_the_database_holds_escaped() {
    let ledger = hostile_ledger("audit").await;
    let env = [("DATABASE_URL", ledger.url.as_str())];

    let audit = view_sync(&env, &["audit"]).await;
    assert_nothing_acts(&audit);
    assert_eq!(
        stdout(&audit),
        format!(
            "1970-01-01T00:00:00.000Z created    \"v{SHOWN}\" (project 1\\u{{202e}}0, data source \
             20) \\u{{a}}no changes recorded for this query; cause: webhook policyUpdated \
             (messages m1), request r1\n"
        )
    );
    let json = view_sync(&env, &["audit", "--output", "json"]).await;
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(json["entries"][0]["view"], format!("\"v{HOSTILE}\""));
    assert_eq!(json["entries"][0]["projectId"], "1\u{202e}0");

    let status = view_sync(&env, &["status"]).await;
    assert_nothing_acts(&status);
    let status = stdout(&status);
    assert!(
        status.contains("  project 1\\u{202e}0: 0 view(s), last change 1970-01-01T00:00:00.000Z\n"),
        "{status}"
    );
    let failing = status
        .lines()
        .find(|l| l.starts_with("1 notification(s) failing"))
        .unwrap_or_else(|| panic!("{status}"));
    assert!(
        failing.ends_with(&format!(
            " ago: Immuta answered 500 for /project/10: {SHOWN}"
        )),
        "{status}"
    );
}

#[tokio::test]
async fn names_a_terminal_would_act_on_are_refused() {
    let ledger = hostile_ledger("names").await;
    let env = [("DATABASE_URL", ledger.url.as_str())];

    let refused = view_sync(&env, &["audit", "--view", "a\u{202e}gpj"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(refused.stdout.is_empty());
    assert_eq!(
        String::from_utf8(refused.stderr).unwrap(),
        "view-sync: --view a\\u{202e}gpj holds \\u{202e}, a control or invisible formatting \
         character: a name may not hold one (it acts on a terminal, or shows the name as \
         something it is not)\n"
    );

    let refused = view_sync(&env, &["audit", "--project", "1\u{200b}0"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .starts_with("view-sync: --project 1\\u{200b}0 holds \\u{200b}"),
    );

    // Refused before anything is asked of Immuta (which is not configured here).
    let refused = view_sync(&env, &["history", "--name", HOSTILE, "--output", "json"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert_nothing_acts(&refused);
    let json: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .starts_with(&format!("--name {SHOWN} holds \\u{{1b}}")),
        "{json}"
    );
}
