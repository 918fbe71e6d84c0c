//! The client against the Immuta simulator: paging, auth, retries, typed errors.

use std::time::{Duration, Instant};

use immuta::{ImmutaClient, ImmutaConfig, ImmutaError, ViewSqlEndpoint};
use immuta_simulator::Simulator;
use immuta_simulator::faults::{FaultKind, Faults, Oversized};
use immuta_simulator::tenant::Tenant;
use view_sync_core::Id;

const KEY: &str = "test-api-key";

fn id(n: u64) -> Id {
    Id::new(n.to_string()).unwrap()
}

fn tenant() -> Tenant {
    let mut t = Tenant::default();
    let members: Vec<u64> = (1..=40).collect();
    for d in &members {
        t.add_data_source(*d, &format!("Source {d}"), "PostgreSQL");
    }
    for p in 100..125 {
        t.add_project(p, &format!("Project {p}"), p % 5 != 0, &[1, 2]);
    }
    t.add_project(7, "Big", true, &members);
    t
}

fn client(sim: &Simulator, extra: &[(&str, &str)]) -> ImmutaClient {
    let mut pairs = vec![
        ("IMMUTA_URL", sim.url.clone()),
        ("IMMUTA_API_KEY", KEY.to_owned()),
        ("IMMUTA_TIMEOUT_MS", "1000".to_owned()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let config = ImmutaConfig::from_lookup(|k| {
        pairs
            .iter()
            .rev()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    ImmutaClient::new(config).unwrap()
}

fn endpoint(pointer: &str) -> ViewSqlEndpoint {
    ViewSqlEndpoint {
        path: immuta_simulator::DEFAULT_VIEW_SQL_PATH.into(),
        json_pointer: Some(pointer.into()).filter(|p: &String| !p.is_empty()),
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

#[tokio::test]
async fn lists_are_paged_to_the_end() {
    let sim = Simulator::start(tenant(), KEY).await.unwrap();
    let c = client(&sim, &[("IMMUTA_PAGE_SIZE", "15")]);
    let sources = c.project_data_sources(&id(7), soon()).await.unwrap();
    assert_eq!(sources.len(), 40);
    assert_eq!(
        sim.count("GET /project/{id}/dataSources"),
        3,
        "40 rows at 15 a page"
    );

    let projects = c.equalized_projects_with(&id(1), soon()).await.unwrap();
    assert_eq!(projects.len(), 21, "20 equalized of 25, plus project 7");
    assert_eq!(sim.count("GET /project"), 2);
}

#[tokio::test]
async fn reads_objects_and_view_sql_in_both_answer_forms() {
    let sim = Simulator::start(tenant(), KEY).await.unwrap();
    let c = client(&sim, &[]);
    let ds = c.data_source(&id(3), soon()).await.unwrap();
    assert_eq!(
        (
            ds.name.as_str(),
            ds.blob_handler_type.as_deref(),
            ds.deleted,
            ds.explicit_disabled
        ),
        ("Source 3", Some("PostgreSQL"), false, None),
        "a data source answer carries no disabled state, as documented"
    );
    // The project detail does not say whether it is equalized: the state endpoint does.
    let p = c.project(&id(100), soon()).await.unwrap();
    assert_eq!((p.status.as_deref(), p.is_equalized), (Some("open"), None));
    assert!(!c.is_equalized(&p, soon()).await.unwrap());
    let p = c.project(&id(101), soon()).await.unwrap();
    assert!(c.is_equalized(&p, soon()).await.unwrap());
    assert_eq!(sim.count("GET /project/{id}/checkEqualizationState"), 2);
    assert_eq!(c.equalized_projects(soon()).await.unwrap().len(), 21);

    let sql = c
        .view_sql(&endpoint("/sql"), &id(7), &id(3), soon())
        .await
        .unwrap();
    assert!(
        sql.starts_with("SELECT '3' AS data_source_id") && sql.contains("'ds1-p1' AS policy"),
        "{sql}"
    );
    let text = ViewSqlEndpoint {
        path: format!("{}?format=text", immuta_simulator::DEFAULT_VIEW_SQL_PATH),
        json_pointer: None,
    };
    assert_eq!(
        c.view_sql(&text, &id(7), &id(3), soon()).await.unwrap(),
        sql
    );
    let err = c
        .view_sql(&endpoint("/query"), &id(7), &id(3), soon())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImmutaError::Decode { .. })
            && err.to_string().contains("VIEW_SQL_JSON_POINTER"),
        "{err}"
    );
}

#[tokio::test]
async fn missing_objects_are_not_found_and_not_retried() {
    let sim = Simulator::start(tenant(), KEY).await.unwrap();
    let err = client(&sim, &[])
        .data_source(&id(999), soon())
        .await
        .unwrap_err();
    assert!(matches!(err, ImmutaError::NotFound { .. }));
    assert!(!err.is_retryable());
    assert_eq!(sim.count("GET /dataSource/{id}"), 1);
}

#[tokio::test]
async fn token_auth_exchanges_the_key_and_renews_once_on_401() {
    let sim = Simulator::start(tenant(), KEY).await.unwrap();
    let c = client(&sim, &[("IMMUTA_AUTH", "token")]);
    c.data_source(&id(1), soon()).await.unwrap();
    c.data_source(&id(2), soon()).await.unwrap();
    sim.expire_tokens();
    c.data_source(&id(3), soon()).await.unwrap();
    assert_eq!(
        sim.count("GET /dataSource/{id}"),
        4,
        "one 401 and three successes"
    );

    let wrong = client(&sim, &[("IMMUTA_API_KEY", "not-the-key")]);
    let err = wrong.data_source(&id(1), soon()).await.unwrap_err();
    assert!(matches!(err, ImmutaError::Unauthorized { .. }));
    assert!(!err.to_string().contains("not-the-key"), "{err}");
}

#[tokio::test]
async fn a_list_that_ends_before_its_count_is_an_error_not_a_shorter_list() {
    let sim = Simulator::start(tenant(), KEY).await.unwrap();
    let c = client(&sim, &[("IMMUTA_PAGE_SIZE", "15")]);
    // Members leave between two pages: the second page comes back empty below the count.
    sim.set_faults(Faults {
        truncate_lists_at: Some(15),
        ..Faults::default()
    });
    let err = c.project_data_sources(&id(7), soon()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ImmutaError::Truncated {
                count: 40,
                received: 15,
                ..
            }
        ) && err.is_retryable(),
        "{err}"
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_with_backoff() {
    let sim = Simulator::start(tenant(), KEY).await.unwrap();
    let c = client(&sim, &[]);
    sim.set_faults(Faults {
        fail_next: 2,
        kinds: vec![FaultKind::TooManyRequests],
        retry_after_secs: 1,
        ..Faults::default()
    });
    let started = Instant::now();
    c.data_source(&id(1), soon()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After: 1 was honoured twice"
    );
    assert_eq!(sim.count("GET /dataSource/{id}"), 3);

    // Retry-After as an HTTP-date (here two seconds away, whole seconds as HTTP dates are).
    sim.set_faults(Faults {
        fail_next: 1,
        kinds: vec![FaultKind::TooManyRequests],
        retry_after_date: true,
        retry_after_secs: 2,
        ..Faults::default()
    });
    let started = Instant::now();
    c.data_source(&id(1), soon()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1_000),
        "the date form of Retry-After was honoured, not a quick backoff: {:?}",
        started.elapsed()
    );

    sim.set_faults(Faults {
        fail_next: 3,
        kinds: vec![FaultKind::ServerError],
        ..Faults::default()
    });
    c.data_source(&id(1), soon()).await.unwrap();
    assert_eq!(sim.count("GET /dataSource/{id}"), 9);
}

#[tokio::test]
async fn hangs_time_out_and_a_persistent_outage_ends_in_a_retryable_error() {
    let sim = Simulator::start(tenant(), KEY).await.unwrap();
    let c = client(
        &sim,
        &[("IMMUTA_TIMEOUT_MS", "200"), ("IMMUTA_MAX_ATTEMPTS", "3")],
    );
    sim.set_faults(Faults {
        fail_next: 1,
        kinds: vec![FaultKind::Hang],
        hang_ms: 5_000,
        ..Faults::default()
    });
    c.data_source(&id(1), soon()).await.unwrap();

    sim.set_faults(Faults {
        error_rate: 1.0,
        kinds: vec![FaultKind::ServerError],
        ..Faults::default()
    });
    let err = c.data_source(&id(1), soon()).await.unwrap_err();
    assert!(
        matches!(err, ImmutaError::Status { status: 503, .. }) && err.is_retryable(),
        "{err}"
    );

    // The deadline bounds the whole call, retries included.
    let started = Instant::now();
    let err = c
        .data_source(&id(1), Instant::now() + Duration::from_millis(150))
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn pages_that_repeat_or_overflow_their_count_are_refused_never_complete() {
    let sim = Simulator::start(tenant(), KEY).await.unwrap();
    let c = client(&sim, &[("IMMUTA_PAGE_SIZE", "15")]);
    // A server (or proxy) that ignores `offset`: every page is the first, with or without the
    // list's count. Both lists a drop is decided from, and both end in a retryable error.
    for omit_count in [false, true] {
        sim.set_faults(Faults {
            ignore_offset: true,
            omit_count,
            ..Faults::default()
        });
        let err = c.project_data_sources(&id(7), soon()).await.unwrap_err();
        assert!(
            matches!(err, ImmutaError::Inconsistent { .. }) && err.is_retryable(),
            "{err}"
        );
        assert!(
            err.to_string().contains(
                "the page at offset 15 repeats 15 item(s) already read (does the server or a \
                 proxy ignore `offset`?)"
            ),
            "{err}"
        );
        let err = c.equalized_projects_with(&id(1), soon()).await.unwrap_err();
        assert!(matches!(err, ImmutaError::Inconsistent { .. }), "{err}");
    }
    // A server that reads `offset` as a page number and gives no count: its second page is
    // empty, as at the end of a list; the probe of the end tells them apart. A correct server
    // without a count passes the probe.
    sim.set_faults(Faults {
        offset_as_page_number: true,
        omit_count: true,
        ..Faults::default()
    });
    let err = c.project_data_sources(&id(7), soon()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("the list ended after 15 items, but asked for its last 2"),
        "{err}"
    );
    sim.set_faults(Faults {
        omit_count: true,
        ..Faults::default()
    });
    assert_eq!(
        c.project_data_sources(&id(7), soon()).await.unwrap().len(),
        40
    );
    // More rows than the announced count.
    sim.set_faults(Faults {
        announce_count: Some(20),
        ..Faults::default()
    });
    let err = c.project_data_sources(&id(7), soon()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("30 items were read, more than the announced count of 20"),
        "{err}"
    );
    // Fewer rows than the announced count when the pages run out.
    sim.set_faults(Faults {
        announce_count: Some(250),
        ..Faults::default()
    });
    let err = c.project_data_sources(&id(7), soon()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ImmutaError::Truncated {
                count: 250,
                received: 40,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn an_oversized_answer_is_refused_at_its_limit_without_being_read() {
    let sim = Simulator::start(tenant(), KEY).await.unwrap();
    let c = client(&sim, &[("IMMUTA_TIMEOUT_MS", "10000")]);
    for declare_length in [true, false] {
        sim.set_faults(Faults {
            oversized_view_sql: Some(Oversized {
                bytes: 200 << 20,
                declare_length,
                data_source_id: Some(3),
            }),
            ..Faults::default()
        });
        let started = Instant::now();
        let err = c
            .view_sql(&endpoint(""), &id(7), &id(3), soon())
            .await
            .unwrap_err();
        let ImmutaError::TooLarge {
            endpoint: answered,
            limit,
            declared,
            ..
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!(*answered, immuta::Endpoint::ViewSql);
        assert_eq!(*limit, 4 << 20);
        assert_eq!(*declared, declare_length.then_some(200 << 20));
        assert!(!err.is_retryable());
        assert!(
            err.to_string().starts_with(
                "Immuta's answer to /simulator-only/view-sql/7/3 is over the 4194304-byte \
                 limit for GET VIEW_SQL_PATH (the view SQL endpoint)"
            ),
            "{err}"
        );
        // Reading 200 MB from loopback would take far longer than refusing it.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        // The other sources' SQL is unaffected.
        c.view_sql(&endpoint(""), &id(7), &id(4), soon())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_retry_after_of_now_still_leaves_the_backoff_between_attempts() {
    let sim = Simulator::start(tenant(), KEY).await.unwrap();
    let c = client(&sim, &[]);
    // `Retry-After: 0` three times: the attempts are still spaced by the backoff (at least 50,
    // 100 and 200 ms: half of 100 ms doubling), not sent back to back.
    sim.set_faults(Faults {
        fail_next: 3,
        kinds: vec![FaultKind::TooManyRequests],
        retry_after_secs: 0,
        ..Faults::default()
    });
    let started = Instant::now();
    c.data_source(&id(1), soon()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sim.count("GET /dataSource/{id}"), 4);
}

#[tokio::test]
async fn the_wait_for_a_request_slot_counts_against_the_deadline() {
    let sim = Simulator::start(tenant(), KEY).await.unwrap();
    let c = client(
        &sim,
        &[
            ("IMMUTA_MAX_CONCURRENCY", "1"),
            ("IMMUTA_TIMEOUT_MS", "3000"),
        ],
    );
    // The only slot is held by a request the server answers after 2 s.
    sim.set_faults(Faults {
        fail_next: 1,
        kinds: vec![FaultKind::Hang],
        hang_ms: 2_000,
        ..Faults::default()
    });
    let first = id(1);
    let holder = c.data_source(&first, soon());
    let waiter = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let result = c
            .data_source(&id(2), Instant::now() + Duration::from_millis(300))
            .await;
        (result, started.elapsed())
    };
    let (_, (result, waited)) = tokio::join!(holder, waiter);
    let err = result.unwrap_err();
    assert!(waited < Duration::from_millis(800), "{waited:?}");
    assert!(
        matches!(err, ImmutaError::OutOfTime { .. }) && err.is_retryable(),
        "{err}"
    );
    assert!(
        err.to_string().contains(
            "all 1 request slots (IMMUTA_MAX_CONCURRENCY) stayed busy until the deadline"
        ),
        "{err}"
    );
}
