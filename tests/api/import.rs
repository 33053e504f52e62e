//! Bulk member import as multipart CSV.

use orgman_testkit::{ALICE, BOB, CAROL};
use reqwest::Method;
use reqwest::multipart::{Form, Part};

use crate::helpers::{Overrides, TestApp, assert_problem, body};

async fn import(app: &TestApp, org: &str, token: &str, csv: &str) -> reqwest::Response {
    app.request(
        Method::POST,
        &format!("/api/v1/organizations/{org}/members/import"),
        Some(token),
    )
    .multipart(csv_form(csv, "text/csv"))
    .send()
    .await
    .unwrap()
}

fn csv_of(users: &[uuid::Uuid], role: &str) -> String {
    let mut csv = String::from("userId,role\n");
    for user in users {
        csv.push_str(&format!("{user},{role}\n"));
    }
    csv
}

fn csv_form(content: &str, mime: &str) -> Form {
    Form::new().part(
        "file",
        Part::bytes(content.as_bytes().to_vec())
            .file_name("members.csv")
            .mime_str(mime)
            .unwrap(),
    )
}

#[tokio::test]
async fn import_reports_every_row() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("acme", ALICE).await;
    app.provision(BOB).await;
    app.provision(CAROL).await;
    let alice = app.token(ALICE).await;
    let csv = format!(
        "userId,role\n{bob},ADMIN\n{carol},\nnot-a-uuid,MEMBER\n{bob},MEMBER\n0b000000-0000-4000-8000-0000000000ff,MEMBER\n{carol},KING\n",
        bob = BOB.id,
        carol = CAROL.id
    );
    let response = app
        .request(
            Method::POST,
            &format!("/api/v1/organizations/{org}/members/import"),
            Some(&alice),
        )
        .multipart(csv_form(&csv, "text/csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let report = body(response).await;
    assert_eq!(report["added"], 2);
    assert_eq!(report["unchanged"], 0);
    assert_eq!(report["failed"], 4);
    assert_eq!(report["rowsTruncated"], false);
    // Only refused rows are listed, in file order, with the codes a
    // single request would get.
    let codes: Vec<_> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            (4, "invalid-user-id".into()),
            (5, "already-member".into()),
            (6, "user-not-found".into()),
            (7, "validation-failed".into()),
        ]
    );
    let members = body(
        app.get(&format!("/api/v1/organizations/{org}/members"), &alice)
            .await,
    )
    .await;
    assert_eq!(members["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn import_limits_types_and_permissions() {
    let mut overrides = Overrides::default();
    overrides.0.insert("MULTIPART_MAX_FILE_SIZE", "1KB".into());
    overrides
        .0
        .insert("MULTIPART_MAX_REQUEST_SIZE", "4KB".into());
    let app = TestApp::builder().settings(overrides).spawn().await;
    let org = app.org_owned_by("acme", ALICE).await;
    let alice = app.token(ALICE).await;
    let path = format!("/api/v1/organizations/{org}/members/import");

    let big = format!("userId,role\n{}", format!("{},MEMBER\n", BOB.id).repeat(40));
    let response = app
        .request(Method::POST, &path, Some(&alice))
        .multipart(csv_form(&big, "text/csv"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 413, "file-too-large").await;

    let huge = "x".repeat(8 * 1024);
    let response = app
        .request(Method::POST, &path, Some(&alice))
        .multipart(csv_form(&huge, "text/csv"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 413, "request-too-large").await;

    let response = app
        .request(Method::POST, &path, Some(&alice))
        .multipart(csv_form("userId\n", "image/png"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, "unsupported-file-type").await;

    let response = app
        .request(Method::POST, &path, Some(&alice))
        .multipart(Form::new().text("note", "no file here"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "missing-file").await;

    let response = app
        .request(Method::POST, &path, Some(&alice))
        .multipart(csv_form("role\nMEMBER\n", "text/csv"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "invalid-csv").await;

    // A MEMBER is refused before anything is read.
    app.provision(BOB).await;
    let added = app
        .post(
            &format!("/api/v1/organizations/{org}/members"),
            &alice,
            serde_json::json!({"userId": BOB.id}),
        )
        .await;
    assert_eq!(added.status(), 201);
    let bob = app.token(BOB).await;
    let response = app
        .request(Method::POST, &path, Some(&bob))
        .multipart(csv_form(&format!("userId\n{}\n", CAROL.id), "text/csv"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "permission-denied").await;
}

#[tokio::test]
async fn thousands_of_rows_in_chunks_with_one_event_and_audit_row_each_and_reruns_change_nothing() {
    let mut overrides = Overrides::default();
    overrides.0.insert("ORGMAN_IMPORT_CHUNK_SIZE", "700".into());
    overrides
        .0
        .insert("ORGMAN_IMPORT_MAX_REPORTED_FAILURES", "3".into());
    let app = TestApp::builder().settings(overrides).spawn().await;
    let org = app.org_owned_by("bulk", ALICE).await;
    let alice = app.token(ALICE).await;
    let users = app.bulk_users(2_500).await;
    let mut csv = csv_of(&users, "MEMBER");
    // Five unknown users at the end: refused, counted, three listed.
    for n in 0..5 {
        csv.push_str(&format!("0b000000-0000-4000-8000-00000000000{n},MEMBER\n"));
    }
    let events_before = app.count("SELECT count(*) AS n FROM outbox_events").await;

    let report = body(import(&app, &org, &alice, &csv).await).await;
    assert_eq!(report["added"], 2_500, "{report}");
    assert_eq!(report["failed"], 5);
    assert_eq!(report["rows"].as_array().unwrap().len(), 3);
    assert_eq!(report["rowsTruncated"], true);
    assert_eq!(report["rows"][0]["line"], 2_502);
    let members = app
        .count(&format!(
            "SELECT count(*) AS n FROM organization_members WHERE org_id = '{org}'"
        ))
        .await;
    assert_eq!(members, 2_501);
    let added_events = app
        .count(&format!(
            "SELECT count(*) AS n FROM outbox_events WHERE aggregate_id = '{org}' AND event_type = 'organization.member.added'"
        ))
        .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM outbox_events").await - events_before,
        2_500
    );
    // The admin's and alice's own events from setting up, and the import's.
    assert_eq!(added_events, 2 + 2_500);
    let audited = app
        .count(&format!(
            "SELECT count(*) AS n FROM audit_events WHERE org_id = '{org}' AND action = 'organization.member.added' AND actor_id = '{}'",
            ALICE.id
        ))
        .await;
    assert_eq!(audited, 2_500);
    // Events keep the file's order: outbox order (seq, then place in the
    // row) follows the rows.
    let listed = quoted(&users);
    let out_of_order = app.count(&out_of_order_events(&org, &listed)).await;
    assert_eq!(out_of_order, 0);
    let matched = app
        .count(&format!(
            "SELECT count(*) AS n FROM outbox_events o JOIN unnest(ARRAY[{listed}]::uuid[]) AS f(u) \
             ON o.payload->'kind'->>'userId' = f.u::text WHERE o.aggregate_id = '{org}'"
        ))
        .await;
    assert_eq!(matched, 2_500, "the ordering check saw every event");

    // The same file again: nothing to do, nothing written.
    let events_before = app.count("SELECT count(*) AS n FROM outbox_events").await;
    let again = body(import(&app, &org, &alice, &csv).await).await;
    assert_eq!(again["added"], 0, "{again}");
    assert_eq!(again["unchanged"], 2_500);
    assert_eq!(again["failed"], 5);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM outbox_events").await,
        events_before
    );

    // Listed twice in one file: the second row sees the first.
    let more = app.bulk_users(1).await;
    let twice = format!(
        "userId,role\n{u},ADMIN\n{u},ADMIN\n{u},MEMBER\n",
        u = more[0]
    );
    let report = body(import(&app, &org, &alice, &twice).await).await;
    assert_eq!(
        (
            report["added"].as_u64(),
            report["unchanged"].as_u64(),
            report["failed"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(report["rows"][0]["code"], "already-member");
}

#[tokio::test]
async fn a_file_beyond_the_row_cap_stops_there_and_says_what_was_committed() {
    let mut overrides = Overrides::default();
    overrides.0.insert("ORGMAN_IMPORT_CHUNK_SIZE", "2".into());
    overrides.0.insert("ORGMAN_IMPORT_MAX_ROWS", "5".into());
    let app = TestApp::builder().settings(overrides).spawn().await;
    let org = app.org_owned_by("capped", ALICE).await;
    let alice = app.token(ALICE).await;
    let users = app.bulk_users(7).await;

    let problem = assert_problem(
        import(&app, &org, &alice, &csv_of(&users, "MEMBER")).await,
        413,
        "too-many-rows",
    )
    .await;
    // Rows 1-4 (lines 2-5) were committed in two chunks; row 5 was read
    // but not applied when row 6 broke the cap.
    assert_eq!(problem["imported"]["added"], 4, "{problem}");
    assert_eq!(problem["imported"]["committedThroughLine"], 5);
    let members = app
        .count(&format!(
            "SELECT count(*) AS n FROM organization_members WHERE org_id = '{org}'"
        ))
        .await;
    assert_eq!(members, 1 + 4);

    // Within the cap, the rest goes in and the committed rows are unchanged.
    let report = body(import(&app, &org, &alice, &csv_of(&users[..5], "MEMBER")).await).await;
    assert_eq!(report["added"], 1, "{report}");
    assert_eq!(report["unchanged"], 4);
}

#[tokio::test]
async fn an_admin_cannot_import_owners_and_a_suspended_organization_refuses_the_file() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("rules", ALICE).await;
    let alice = app.token(ALICE).await;
    let users = app.bulk_users(3).await;
    let admin_row = format!("userId,role\n{},ADMIN\n", users[0]);
    assert_eq!(
        body(import(&app, &org, &alice, &admin_row).await).await["added"],
        1
    );
    // An ADMIN imports too, but only an OWNER grants OWNER: that row is
    // refused, the others go in.
    app.provision(BOB).await;
    let bob_admin = app
        .post(
            &format!("/api/v1/organizations/{org}/members"),
            &alice,
            serde_json::json!({"userId": BOB.id, "role": "ADMIN"}),
        )
        .await;
    assert_eq!(bob_admin.status(), 201);
    let bob = app.token(BOB).await;
    let mixed = format!("userId,role\n{},OWNER\n{},MEMBER\n", users[1], users[2]);
    let report = body(import(&app, &org, &bob, &mixed).await).await;
    assert_eq!(report["added"], 1, "{report}");
    assert_eq!(report["rows"][0]["code"], "owner-required");

    let admin = app.token(orgman_testkit::ADMIN).await;
    let suspended = app
        .post(
            &format!("/api/v1/organizations/{org}/suspend"),
            &admin,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(suspended.status(), 200);
    assert_problem(
        import(&app, &org, &alice, &csv_of(&users, "MEMBER")).await,
        409,
        "organization-read-only",
    )
    .await;
}

/// The real binary, for a test that kills it.
struct Process {
    child: std::process::Child,
    app: TestApp,
}

impl Process {
    fn start(database_url: &str) -> Process {
        let stack = orgman_testkit::Stack::get();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (base, realm) = stack.oidc_issuer.split_once("/realms/").unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_orgman-server"))
            .env_clear()
            .env("DATABASE_URL", database_url)
            .env("SERVER_ADDRESS", "127.0.0.1")
            .env("SERVER_PORT", port.to_string())
            .env("SECURITY_OAUTH2_BASE_SERVER_URL", base)
            .env("SECURITY_OAUTH2_REALM", realm)
            .env("SECURITY_OAUTH2_AUDIENCE", &stack.oidc_audience)
            .env("ORGMAN_CACHE_ENABLED", "false")
            .env("ORGMAN_OUTBOX_RELAY_ENABLED", "false")
            .env("ORGMAN_IMPORT_CHUNK_SIZE", "200")
            .env("LOGGING_LEVEL_ROOT", "ERROR")
            .env("LOGGING_LEVEL_APP", "ERROR")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the binary starts");
        orgman_testkit::eventually_blocking(
            "the service starts",
            std::time::Duration::from_secs(30),
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        Process {
            child,
            app: TestApp {
                address: format!("http://127.0.0.1:{port}"),
                database_url: database_url.to_owned(),
                db_proxy: None,
            },
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_process_killed_mid_import_keeps_whole_chunks_and_a_rerun_completes_without_duplicates() {
    use std::io::Write;
    let stack = orgman_testkit::Stack::get();
    let database_url = stack.fresh_database().await;
    let mut process = Process::start(&database_url);
    let app = &process.app;
    let admin = app.token(orgman_testkit::ADMIN).await;
    let org = app.create_org("killed").await;
    let users = app.bulk_users(6_000).await;
    let csv = csv_of(&users, "MEMBER");
    let members = format!(
        "SELECT count(*) AS n FROM organization_members WHERE org_id = '{org}' AND role = 'MEMBER'"
    );

    // The upload trickles in, so the process dies with the file half read.
    let boundary = "orgman-test-boundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.csv\"\r\nContent-Type: text/csv\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let length = head.len() + csv.len() + tail.len();
    let address = app.address.trim_start_matches("http://").to_owned();
    let (token, path, upload) = (
        admin.clone(),
        format!("/api/v1/organizations/{org}/members/import"),
        csv.clone(),
    );
    let uploader = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        let _ = write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n\r\n{head}"
        );
        for piece in upload.as_bytes().chunks(4_500) {
            if stream.write_all(piece).is_err() {
                return;
            }
            // A slow client on purpose: the upload stays in flight.
            std::thread::sleep(std::time::Duration::from_millis(15));
        }
        let _ = stream.write_all(tail.as_bytes());
    });
    orgman_testkit::eventually(
        "a few chunks are committed",
        std::time::Duration::from_secs(30),
        || async { app.count(&members).await >= 600 },
    )
    .await;
    process.child.kill().unwrap();
    process.child.wait().unwrap();
    uploader.join().unwrap();

    let committed = app.count(&members).await;
    assert!(committed < users.len() as i64, "killed before the end");
    assert_eq!(committed % 200, 0, "only whole chunks: {committed}");
    let events = format!(
        "SELECT count(*) AS n FROM outbox_events WHERE aggregate_id = '{org}' AND event_type = 'organization.member.added' AND payload->'kind'->>'role' = 'MEMBER'"
    );
    assert_eq!(
        app.count(&events).await,
        committed,
        "one event per committed member"
    );
    let audited = format!(
        "SELECT count(*) AS n FROM audit_events WHERE org_id = '{org}' AND action = 'organization.member.added'"
    );
    assert_eq!(app.count(&audited).await, committed + 1);

    // Started again, the same file completes the import.
    drop(process);
    let process = Process::start(&database_url);
    let app = &process.app;
    let report = body(import(app, &org, &admin, &csv).await).await;
    assert_eq!(report["unchanged"].as_i64(), Some(committed), "{report}");
    assert_eq!(
        report["added"].as_i64(),
        Some(users.len() as i64 - committed)
    );
    assert_eq!(app.count(&members).await, users.len() as i64);
    assert_eq!(app.count(&events).await, users.len() as i64);
    let distinct = format!(
        "SELECT count(DISTINCT payload->'kind'->>'userId') AS n FROM outbox_events WHERE aggregate_id = '{org}' AND event_type = 'organization.member.added'"
    );
    assert_eq!(
        app.count(&distinct).await,
        users.len() as i64 + 1,
        "no duplicate event"
    );
}

#[tokio::test]
async fn chunks_applied_two_at_a_time_give_the_outcomes_of_one_after_the_other() {
    let mut overrides = Overrides::default();
    overrides.0.insert("ORGMAN_IMPORT_CHUNK_SIZE", "2".into());
    let app = TestApp::builder().settings(overrides).spawn().await;
    let org = app.org_owned_by("pairs", ALICE).await;
    let alice = app.token(ALICE).await;
    let u = app.bulk_users(6).await;
    // Chunks of two rows. The second names a user of the first (so it
    // waits for it); the third is disjoint from the second (so it is
    // staged beside it); the fourth names a user of the second, which is
    // committed before the fourth starts.
    let csv = format!(
        "userId,role\n{0},ADMIN\n{1},MEMBER\n{0},MEMBER\n{2},MEMBER\n{3},MEMBER\n{4},MEMBER\n{2},MEMBER\n{5},MEMBER\n",
        u[0], u[1], u[2], u[3], u[4], u[5]
    );
    let report = body(import(&app, &org, &alice, &csv).await).await;
    assert_eq!(
        (
            report["added"].as_u64(),
            report["unchanged"].as_u64(),
            report["failed"].as_u64()
        ),
        (Some(6), Some(1), Some(1)),
        "{report}"
    );
    assert_eq!(report["rows"][0]["line"], 4);
    assert_eq!(report["rows"][0]["code"], "already-member");
    let admin = app
        .count(&format!(
            "SELECT count(*) AS n FROM organization_members WHERE org_id = '{org}' AND user_id = '{}' AND role = 'ADMIN'",
            u[0]
        ))
        .await;
    assert_eq!(admin, 1, "the first row's role stands");
    // One event per added member, in the file's order.
    let listed = quoted(&u);
    let out_of_order = app.count(&out_of_order_events(&org, &listed)).await;
    assert_eq!(out_of_order, 0);
    let events = app
        .count(&format!(
            "SELECT count(*) AS n FROM outbox_events WHERE aggregate_id = '{org}' AND event_type = 'organization.member.added' \
             AND payload->'kind'->>'userId' = ANY(ARRAY[{listed}])"
        ))
        .await;
    assert_eq!(events, 6);
}

/// Ids as a list of SQL literals.
fn quoted(ids: &[uuid::Uuid]) -> String {
    ids.iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",")
}

/// How many of the listed users' `member.added` events come, in outbox
/// order (seq, then place in the row), before the event of a user listed
/// earlier: 0 when the events keep the list's order.
fn out_of_order_events(org: &str, listed: &str) -> String {
    format!(
        "SELECT count(*) AS n FROM (\
           SELECT o.pos, lag(o.pos) OVER (ORDER BY f.n) AS before \
           FROM (SELECT payload, row_number() OVER (ORDER BY seq, index_in_row) AS pos \
                 FROM outbox_events \
                 WHERE aggregate_id = '{org}' AND event_type = 'organization.member.added') o \
           JOIN unnest(ARRAY[{listed}]::uuid[]) WITH ORDINALITY AS f(u, n) \
             ON o.payload->'kind'->>'userId' = f.u::text) x \
         WHERE x.before > x.pos"
    )
}

/// The `roles` column gives custom and platform roles, `;` between keys,
/// under the rules of a single request.
#[tokio::test]
async fn a_roles_column_gives_custom_and_platform_roles() {
    let app = TestApp::spawn().await;
    let org = app.org_owned_by("acme", ALICE).await;
    app.provision(BOB).await;
    app.provision(CAROL).await;
    let alice = app.token(ALICE).await;
    let admin = app.token(orgman_testkit::ADMIN).await;
    let roles = format!("/api/v1/organizations/{org}/roles");
    let auditor = serde_json::json!({"key": "auditor", "name": "A", "permissions": ["audit:read"]});
    assert_eq!(app.post(&roles, &alice, auditor).await.status(), 201);
    let viewer = serde_json::json!({"key": "viewer", "name": "V", "permissions": ["members:read"]});
    assert_eq!(
        app.post("/api/v1/roles", &admin, viewer).await.status(),
        201
    );
    let csv = format!(
        "userId,role,roles\n{bob},MEMBER,auditor; viewer\n{carol},,ghost\n{carol},,Not A Key\n",
        bob = BOB.id,
        carol = CAROL.id
    );
    let report = body(import(&app, &org, &alice, &csv).await).await;
    assert_eq!(
        (report["added"].as_u64(), report["failed"].as_u64()),
        (Some(1), Some(2))
    );
    let codes: Vec<_> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes, ["unknown-role", "validation-failed"]);
    let members = body(
        app.get(&format!("/api/v1/organizations/{org}/members"), &alice)
            .await,
    )
    .await;
    let bob = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["userId"] == BOB.id)
        .cloned()
        .unwrap();
    assert_eq!(
        bob["roles"],
        serde_json::json!(["MEMBER", "auditor", "viewer"])
    );
    let bob_token = app.token(BOB).await;
    let audit = format!("/api/v1/organizations/{org}/audit-events");
    assert_eq!(app.get(&audit, &bob_token).await.status(), 200);
    // Again: the row is in place.
    let again = body(import(&app, &org, &alice, &csv).await).await;
    assert_eq!(again["unchanged"], 1);
}
