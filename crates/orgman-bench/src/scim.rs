//! A directory's first sync over SCIM, in the default configuration:
//! 10,000 users (`BENCH_SCIM_USERS`) created by 8 clients at once, then 50
//! groups whose members are added in PATCHes of 100 (Okta's group push),
//! five of them mapped to ADMIN; the memberships checked. Then deprovisioning
//! one user (`active: false`) beside removing one member through the REST
//! API, with a person's token and with an API key, one at a time.

use std::time::Instant;

use orgman_domain::{Actor, OrganizationService};
use serde_json::{Value, json};

use crate::{Config, Seed, Server, env, env_number, new_organization};

const CLIENTS: usize = 8;
const GROUPS: usize = 50;
const MAPPED: usize = 5;
const BATCH: usize = 100;
const ONE_BY_ONE: usize = 200;

/// The sync's figures and the comparison, as JSON; tables to stdout.
pub(crate) async fn scim_bench(
    binary: &std::path::Path,
    seed: &Seed,
    service: &OrganizationService,
    import_rows_per_second: f64,
) -> Value {
    let users = env_number("BENCH_SCIM_USERS", 10_000);
    let owner = Actor::platform_admin(seed.users[0].0);
    let org = new_organization(service, &owner, "bench-scim").await;
    let config = Config {
        name: "scim",
        authorizer: "database",
        redis: true,
        relay: true,
        keycloak: true,
        members: "linked",
    };
    let server = Server::start(binary, &config);
    let token = seed.users[0].1.clone();
    let http = reqwest::Client::new();
    let key = api_key(&http, &server.base, &token, org).await;
    set_mappings(&http, &server.base, &token, org).await;
    let base = format!("{}/scim/v2/organizations/{org}", server.base);

    let started = Instant::now();
    let ids = create_users(&http, &base, &key, users).await;
    let users_seconds = started.elapsed().as_secs_f64();
    let grouped = Instant::now();
    create_groups(&http, &base, &key, &ids).await;
    let groups_seconds = grouped.elapsed().as_secs_f64();
    let sync_seconds = started.elapsed().as_secs_f64();
    let url = env("DATABASE_URL");
    let (members, admins) = check_memberships(&url, org, ids.len());

    let deprovision = deprovision(&http, &base, &key, &ids[..ONE_BY_ONE]).await;
    let removal = remove_members(
        &http,
        &server.base,
        &token,
        org,
        &url,
        &ids[ONE_BY_ONE..2 * ONE_BY_ONE],
    )
    .await;
    // The same removal by an API key, the kind of caller a directory is.
    let members_key = api_key_with(&http, &server.base, &token, org, "members:manage").await;
    let keyed = remove_members(
        &http,
        &server.base,
        &members_key,
        org,
        &url,
        &ids[2 * ONE_BY_ONE..3 * ONE_BY_ONE],
    )
    .await;
    drop(server);
    let figures = Figures {
        users: ids.len(),
        users_seconds,
        groups_seconds,
        sync_seconds,
        members,
        admins,
        deprovision,
        removal,
        keyed,
    };
    report(&figures, import_rows_per_second)
}

async fn api_key(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    org: orgman_domain::OrganizationId,
) -> String {
    api_key_with(http, base, token, org, "scim:provision").await
}

async fn api_key_with(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    org: orgman_domain::OrganizationId,
    permission: &str,
) -> String {
    let made: Value = http
        .post(format!("{base}/api/v1/organizations/{org}/api-keys"))
        .bearer_auth(token)
        .json(&json!({"name": format!("bench {permission}"), "permissions": [permission]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    made["secret"].as_str().expect("a key").to_owned()
}

async fn set_mappings(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    org: orgman_domain::OrganizationId,
) {
    let mappings: Vec<Value> = (0..MAPPED)
        .map(|g| json!({"group": format!("group-{g}"), "role": "ADMIN"}))
        .collect();
    let answer = http
        .put(format!(
            "{base}/api/v1/organizations/{org}/directory/group-roles"
        ))
        .bearer_auth(token)
        .json(&json!({"mappings": mappings}))
        .send()
        .await
        .unwrap();
    assert!(
        answer.status().is_success(),
        "mappings: {}",
        answer.status()
    );
}

/// POSTs `count` users from [`CLIENTS`] clients; their ids, in order.
async fn create_users(http: &reqwest::Client, base: &str, key: &str, count: usize) -> Vec<String> {
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (http, base, key) = (http.clone(), base.to_owned(), key.to_owned());
            tokio::spawn(async move {
                let mut made = Vec::new();
                for n in (client..count).step_by(CLIENTS) {
                    let user = json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": format!("u{n}@directory.example"), "externalId": format!("ext-{n}"),
                        "name": {"givenName": "User", "familyName": format!("N{n}")},
                        "emails": [{"value": format!("u{n}@directory.example"), "type": "work", "primary": true}],
                        "active": true,
                    });
                    let answer = http.post(format!("{base}/Users")).bearer_auth(&key).json(&user).send().await.unwrap();
                    assert_eq!(answer.status(), 201, "POST /Users");
                    let body: Value = answer.json().await.unwrap();
                    made.push((n, body["id"].as_str().unwrap().to_owned()));
                }
                made
            })
        })
        .collect();
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    all.into_iter().map(|(_, id)| id).collect()
}

/// [`GROUPS`] groups, each of an equal share of `ids`, members added by
/// [`BATCH`], groups from [`CLIENTS`] clients at once.
async fn create_groups(http: &reqwest::Client, base: &str, key: &str, ids: &[String]) {
    let per_group = ids.len() / GROUPS;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (http, base, key) = (http.clone(), base.to_owned(), key.to_owned());
            let ids = ids.to_vec();
            tokio::spawn(async move {
                for g in (client..GROUPS).step_by(CLIENTS) {
                    let answer = http.post(format!("{base}/Groups")).bearer_auth(&key)
                        .json(&json!({"displayName": format!("group-{g}")})).send().await.unwrap();
                    assert_eq!(answer.status(), 201, "POST /Groups");
                    let id = answer.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
                    for chunk in ids[g * per_group..(g + 1) * per_group].chunks(BATCH) {
                        let members: Vec<Value> = chunk.iter().map(|v| json!({"value": v})).collect();
                        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                            "Operations": [{"op": "add", "path": "members", "value": members}]});
                        let answer = http.patch(format!("{base}/Groups/{id}")).bearer_auth(&key).json(&patch).send().await.unwrap();
                        assert_eq!(answer.status(), 200, "PATCH /Groups");
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

/// The organization's members and ADMINs after the sync, each checked:
/// every user a member, the mapped groups' members ADMINs.
fn check_memberships(url: &str, org: orgman_domain::OrganizationId, users: usize) -> (i64, i64) {
    let of_org = format!("SELECT count(*) FROM organization_members WHERE org_id = '{org}'");
    let members = count(url, &format!("{of_org} AND role <> 'OWNER'"));
    let admins = count(url, &format!("{of_org} AND role = 'ADMIN'"));
    assert_eq!(members as usize, users, "every user is a member");
    assert_eq!(
        admins as usize,
        MAPPED * (users / GROUPS),
        "the mapped groups' members are ADMINs"
    );
    (members, admins)
}

/// Mean, p50 and p99 in milliseconds.
fn summary(mut samples: Vec<f64>) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (
        samples.iter().sum::<f64>() / samples.len() as f64,
        at(0.5),
        at(0.99),
    )
}

async fn deprovision(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    ids: &[String],
) -> (f64, f64, f64) {
    let mut samples = Vec::with_capacity(ids.len());
    for id in ids {
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
        let at = Instant::now();
        let answer = http
            .patch(format!("{base}/Users/{id}"))
            .bearer_auth(key)
            .json(&patch)
            .send()
            .await
            .unwrap();
        samples.push(at.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(answer.status(), 200, "deprovisioning");
    }
    summary(samples)
}

async fn remove_members(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    org: orgman_domain::OrganizationId,
    url: &str,
    ids: &[String],
) -> (f64, f64, f64) {
    let list = ids
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    let users = text_rows(
        url,
        &format!("SELECT user_id FROM directory_users WHERE id IN ({list})"),
    );
    let mut samples = Vec::with_capacity(users.len());
    for user in users {
        let at = Instant::now();
        let answer = http
            .delete(format!("{base}/api/v1/organizations/{org}/members/{user}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        samples.push(at.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(answer.status(), 204, "removal");
    }
    summary(samples)
}

fn count(url: &str, query: &str) -> i64 {
    text_rows(url, query)[0].parse().unwrap()
}

fn text_rows(url: &str, query: &str) -> Vec<String> {
    let output = std::process::Command::new("psql")
        .args([url, "-XAtc", query])
        .output()
        .expect("psql");
    assert!(output.status.success(), "psql {query}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// What the sync measured.
struct Figures {
    users: usize,
    users_seconds: f64,
    groups_seconds: f64,
    sync_seconds: f64,
    members: i64,
    admins: i64,
    /// Mean, p50 and p99 in milliseconds, each.
    deprovision: (f64, f64, f64),
    removal: (f64, f64, f64),
    keyed: (f64, f64, f64),
}

/// The tables, to stdout; the figures as JSON.
fn report(f: &Figures, import_rows_per_second: f64) -> Value {
    let users_rate = f.users as f64 / f.users_seconds;
    let beside = if import_rows_per_second.is_finite() {
        format!(
            "{:.3}× the member import's rows/s",
            users_rate / import_rows_per_second
        )
    } else {
        String::new()
    };
    println!("\n| SCIM first sync, default configuration | seconds | per second | beside |");
    println!("|---|---|---|---|");
    println!(
        "| {} users, POST /Users from {CLIENTS} clients | {:.1} | {users_rate:.0} users/s | {beside} |",
        f.users, f.users_seconds
    );
    println!(
        "| {GROUPS} groups, POST /Groups + PATCH members by {BATCH} ({MAPPED} mapped to ADMIN) | {:.1} | {:.0} memberships/s | |",
        f.groups_seconds,
        f.users as f64 / f.groups_seconds
    );
    println!(
        "| the whole sync: {} members, {} ADMINs, as expected | {:.1} | {:.0} users/s | |",
        f.members,
        f.admins,
        f.sync_seconds,
        f.users as f64 / f.sync_seconds
    );
    println!("\n| one at a time, {ONE_BY_ONE} each | mean | p50 | p99 |");
    println!("|---|---|---|---|");
    for (name, (mean, p50, p99)) in [
        (
            "deprovisioning a user: PATCH .../Users/{id} active=false",
            f.deprovision,
        ),
        (
            "removing a member: DELETE .../members/{userId}, a person's token",
            f.removal,
        ),
        (
            "removing a member: the same, an API key holding members:manage",
            f.keyed,
        ),
    ] {
        println!("| {name} | {mean:.2} ms | {p50:.2} ms | {p99:.2} ms |");
    }
    println!(
        "| ratio, deprovisioning / removal by a key (mean) | {:.2}× | | |",
        f.deprovision.0 / f.keyed.0
    );
    let ms = |(mean, p50, p99): (f64, f64, f64)| json!({"mean": mean, "p50": p50, "p99": p99});
    json!({
        "users": f.users, "groups": GROUPS, "mapped_groups": MAPPED,
        "users_seconds": f.users_seconds, "users_per_second": users_rate.round(),
        "groups_seconds": f.groups_seconds, "sync_seconds": f.sync_seconds,
        "members": f.members, "admins": f.admins,
        "deprovision_ms": ms(f.deprovision), "removal_ms": ms(f.removal),
        "removal_by_key_ms": ms(f.keyed),
        "deprovision_over_removal_by_key": f.deprovision.0 / f.keyed.0,
    })
}
