//! `people`: the member directory at scale. One organization with
//! 1,000,000 members (`BENCH_PEOPLE_MEMBERS`), searched by a prefix of the
//! address or of a word of the name and exported, and one user in 10,000
//! organizations (`BENCH_PEOPLE_ORGANIZATIONS`), each beside its anchor: a
//! plain SQL statement through `pgbench` with a custom script, or `psql
//! \copy`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use orgman_domain::{Actor, OrgName, OrganizationId, OrganizationService, Slug, UserId};
use serde_json::{Value, json};

use crate::{
    Config, Load, PeakRss, Seed, Server, env, env_number, pgbench_load, psql, request_file, wrk,
};

/// Given names: each member's address starts with one (so a 3-letter
/// prefix of one finds about 1 % of the members by address).
const GIVEN: &[&str] = &[
    "aaron", "abigail", "adam", "adrian", "aisha", "alan", "albert", "alex", "alice", "amanda",
    "amir", "amy", "andrea", "angela", "anna", "anthony", "arthur", "ava", "barbara", "ben",
    "bianca", "boris", "brian", "bruno", "carla", "carlos", "caroline", "charles", "chen", "chloe",
    "chris", "clara", "daniel", "david", "deborah", "diana", "diego", "dmitri", "edward", "elena",
    "elias", "emily", "emma", "eric", "eva", "fatima", "felix", "fiona", "francis", "gabriel",
    "george", "grace", "hana", "hannah", "harry", "helen", "henry", "hugo", "ian", "ines", "irene",
    "isaac", "ivan", "jack", "james", "jane", "javier", "jennifer", "jessica", "john", "jorge",
    "julia", "karen", "kevin", "laura", "leo", "linda", "lucas", "maria", "mark", "martin", "mary",
    "matteo", "michael", "mohammed", "nadia", "nina", "oliver", "olga", "oscar", "paul", "peter",
    "rachel", "robert", "sarah", "sofia", "thomas", "victor", "william", "yuki",
];

/// Family names: words of the names only (never an address's start).
const FAMILY: &[&str] = &[
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "hernandez",
    "lopez",
    "gonzalez",
    "wilson",
    "anderson",
    "taylor",
    "moore",
    "jackson",
    "martin",
    "lee",
    "perez",
    "thompson",
    "white",
    "harris",
    "sanchez",
    "clark",
    "ramirez",
    "lewis",
    "robinson",
    "walker",
    "young",
    "allen",
    "king",
    "wright",
    "scott",
    "torres",
    "nguyen",
    "hill",
    "flores",
    "green",
    "adams",
    "nelson",
    "baker",
    "hall",
    "rivera",
    "campbell",
    "mitchell",
    "carter",
    "roberts",
    "muller",
    "schmidt",
    "schneider",
    "fischer",
    "weber",
    "meyer",
    "wagner",
    "becker",
    "schulz",
    "hoffmann",
    "rossi",
    "russo",
    "ferrari",
    "esposito",
    "bianchi",
    "romano",
    "colombo",
    "ricci",
    "marino",
    "greco",
    "dubois",
    "durand",
    "lefebvre",
    "moreau",
    "laurent",
    "simon",
    "michel",
    "leroy",
    "kowalski",
    "nowak",
    "wisniewski",
    "popescu",
    "ionescu",
    "ivanov",
    "petrov",
    "sato",
    "suzuki",
    "takahashi",
    "tanaka",
    "watanabe",
    "wang",
    "li",
    "zhang",
    "liu",
    "chen",
    "yang",
    "kim",
    "park",
    "singh",
    "kumar",
    "silva",
];

fn prefixes(words: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = words.iter().map(|w| w.chars().take(3).collect()).collect();
    found.sort();
    found.dedup();
    found
}

/// The upper bound of a prefix's range (the last letter's successor).
fn upper(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    let last = chars.pop().unwrap();
    chars.push(char::from_u32(u32::from(last) + 1).unwrap());
    chars.into_iter().collect()
}

fn sql_array(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    format!("ARRAY[{}]", quoted.join(","))
}

/// `members` users with addresses and names, all members of `org`, loaded
/// by SQL (setup, not measured): the triggers write their directory keys.
fn seed_members(url: &str, org: OrganizationId, members: usize) {
    let given: Vec<String> = GIVEN.iter().map(|s| (*s).to_owned()).collect();
    let family: Vec<String> = FAMILY.iter().map(|s| (*s).to_owned()).collect();
    let (g, f) = (given.len(), family.len());
    psql(
        url,
        &format!(
            "INSERT INTO users (id, subject, email, display_name, given_name, family_name, search_words) \
             SELECT gen_random_uuid(), 'people-' || n, x.g || '.' || x.f || n || '@example.com', \
                    initcap(x.g) || ' ' || initcap(x.f), initcap(x.g), initcap(x.f), ARRAY[x.g, x.f] \
             FROM generate_series(1, {members}) AS n \
             CROSS JOIN LATERAL (SELECT ({given})[1 + n % {g}] AS g, \
                                        ({family})[1 + (n / {g}) % {f}] AS f) AS x",
            given = sql_array(&given),
            family = sql_array(&family),
        ),
    );
    psql(
        url,
        &format!(
            "INSERT INTO organization_members (org_id, user_id, role) \
             SELECT '{org}', id, 'MEMBER' FROM users WHERE subject LIKE 'people-%'"
        ),
    );
    // A database in its steady state: vacuumed (index-only scans need
    // the visibility map) and analysed, as autovacuum leaves it; one
    // statement each, since VACUUM runs outside a transaction.
    for table in ["users", "organization_members", "member_search"] {
        psql(url, &format!("VACUUM (ANALYZE) {table}"));
    }
}

/// `count` organizations with `user` as a MEMBER of each, by SQL.
fn seed_organizations(url: &str, user: UserId, count: usize) {
    psql(
        url,
        &format!(
            "WITH made AS ( \
               INSERT INTO organizations (id, name, slug) \
               SELECT gen_random_uuid(), 'Many ' || n, 'many-' || n \
               FROM generate_series(1, {count}) AS n RETURNING id) \
             INSERT INTO organization_members (org_id, user_id, role) \
             SELECT id, '{user}', 'MEMBER' FROM made"
        ),
    );
    for table in ["organizations", "organization_members", "member_search"] {
        psql(url, &format!("VACUUM (ANALYZE) {table}"));
    }
}

/// pgbench with a custom script: 16 clients, prepared statements.
fn pgbench_script(url: &str, name: &str, script: &str, seconds: u64) -> Load {
    let file = std::env::temp_dir().join(format!("orgman-bench-{name}.sql"));
    std::fs::write(&file, script).unwrap();
    let output = Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-c", "16", "-j", "2", "-T"])
        .arg(seconds.to_string())
        .arg("-f")
        .arg(&file)
        .arg(url)
        .output()
        .expect("pgbench");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let load = pgbench_load(&text);
    assert!(
        load.rps > 0.0,
        "pgbench {name} measured nothing:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    load
}

fn search_anchor(url: &str, org: OrganizationId, prefixes: &[String], seconds: u64) -> Load {
    let highs: Vec<String> = prefixes.iter().map(|p| upper(p)).collect();
    let script = format!(
        "\\set i random(1, {n})\n\
         SELECT u.id, u.email, u.display_name FROM member_search s JOIN users u ON u.id = s.user_id \
         WHERE s.org_id = '{org}' AND s.kind = 'e' AND s.key >= ({lo})[:i] AND s.key < ({hi})[:i] \
         ORDER BY s.key LIMIT 50;\n",
        n = prefixes.len(),
        lo = sql_array(prefixes),
        hi = sql_array(&highs),
    );
    pgbench_script(url, "search", &script, seconds)
}

/// The plan of the service's own search (`member_search_page`, as the
/// function runs it: its generic plan), by `auto_explain` with `ANALYZE`.
fn search_plan(url: &str, org: OrganizationId, prefix: &str) -> String {
    let sql = format!(
        "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; \
         SET auto_explain.log_nested_statements = on; SET auto_explain.log_analyze = on; \
         SET client_min_messages = log; \
         SELECT count(*) FROM member_search_page('{org}', '{prefix}', '{}', '', \
         '00000000-0000-0000-0000-000000000000', 51, NULL, '{prefix}', \
         '00000000-0000-0000-0000-000000000000');",
        upper(prefix)
    );
    let output = Command::new("psql")
        .arg(url)
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1"])
        .arg("-c")
        .arg(&sql)
        .output()
        .expect("psql");
    assert!(
        output.status.success(),
        "EXPLAIN: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // auto_explain's report comes as messages, on standard error.
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `psql \copy` of the export's rows to `/dev/null`: seconds.
fn export_anchor(url: &str, org: OrganizationId) -> f64 {
    let started = Instant::now();
    psql(
        url,
        &format!(
            "\\copy (SELECT m.user_id, u.email, u.display_name, u.given_name, u.family_name, \
             m.role, m.created_at, m.updated_at FROM organization_members m \
             JOIN users u ON u.id = m.user_id WHERE m.org_id = '{org}' \
             ORDER BY m.created_at, m.user_id) TO '/dev/null' CSV"
        ),
    );
    started.elapsed().as_secs_f64()
}

/// The export through the service: (seconds, lines without the header).
async fn export(base: &str, org: OrganizationId, token: &str) -> (f64, usize) {
    let started = Instant::now();
    let mut response = reqwest::Client::new()
        .get(format!("{base}/api/v1/organizations/{org}/members/export"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "export");
    let mut lines = 0;
    while let Some(chunk) = response.chunk().await.unwrap() {
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    (started.elapsed().as_secs_f64(), lines.saturating_sub(1))
}

/// What an authenticated read over HTTP and one statement can reach on
/// shared cores: `1 / (1/floor + 1/anchor)`.
fn ceiling(floor: f64, anchor: f64) -> f64 {
    1.0 / (1.0 / floor + 1.0 / anchor)
}

fn load_json(load: &Load) -> Value {
    json!({"rps": load.rps, "p50_ms": load.p50_ms, "p99_ms": load.p99_ms, "errors": load.errors,
           "cpu_us_per_request": load.cost.map(|c| c.cpu_us)})
}

pub(crate) async fn people_bench(
    binary: &Path,
    seed: &Seed,
    service: &OrganizationService,
    seconds: u64,
) -> Value {
    let url = env("DATABASE_URL");
    let members = env_number("BENCH_PEOPLE_MEMBERS", 1_000_000);
    let (owner, owner_token) = &seed.users[0];
    let big = service
        .create(
            &Actor::platform_admin(*owner),
            OrgName::parse("People at scale").unwrap(),
            Slug::parse("people-at-scale").unwrap(),
        )
        .await
        .unwrap()
        .id();
    eprintln!("bench: people: {members} members");
    let started = Instant::now();
    seed_members(&url, big, members);
    let seeded_seconds = started.elapsed().as_secs_f64();
    let config = Config {
        name: "people",
        authorizer: "database",
        redis: true,
        relay: true,
        keycloak: false,
        members: "linked",
    };
    let mut server = Server::start(binary, &config);
    // The HTTP floor: each row is also given against the combined ceiling
    // of the floor and its anchor, as the hot path's rows are.
    let floor = wrk(&server.base, "/actuator/health/liveness", None, seconds);
    let many = ManyOrganizations::before(&server.base, seed, seconds);
    let search = measure_search(&url, &server.base, (big, owner_token), floor.rps, seconds);
    let export = measure_export(&url, &server, big, members, owner_token).await;
    let many = many.after(&url, &server.base, floor.rps, seconds);
    let _ = server.child.kill();
    let _ = server.child.wait();
    let result = json!({
        "configuration": "database authorizer, Redis on, relays in the process, ORGMAN_KEYCLOAK_ORGANIZATIONS=false (10,000 organizations made by SQL would otherwise be copied to Keycloak at start)",
        "members": members,
        "seeded_seconds": seeded_seconds,
        "http_floor": load_json(&floor),
        "search": search,
        "export": export,
        "many_organizations": many,
    });
    print_people(&result);
    result
}

/// Search pages by address prefix and by name-word prefix beside the
/// anchor, and the plan of the search statement.
fn measure_search(
    url: &str,
    base: &str,
    (big, token): (OrganizationId, &str),
    floor: f64,
    seconds: u64,
) -> Value {
    let by_address = prefixes(GIVEN);
    let by_name: Vec<String> = prefixes(FAMILY)
        .into_iter()
        .filter(|p| !by_address.contains(p))
        .collect();
    let search_file = |name: &str, prefixes: &[String]| {
        request_file(
            name,
            prefixes.iter().map(|p| {
                format!("/api/v1/organizations/{big}/members?search={p}&limit=50\t{token}")
            }),
        )
    };
    eprintln!("bench: people: search");
    let anchor = search_anchor(url, big, &by_address, seconds);
    let search_address = wrk(
        base,
        "/",
        Some(&search_file("people-address", &by_address)),
        seconds,
    );
    let search_name = wrk(
        base,
        "/",
        Some(&search_file("people-name", &by_name)),
        seconds,
    );
    let plan = search_plan(url, big, &by_address[by_address.len() - 1]);
    let scans_members = plan.lines().any(|l| {
        l.contains("Seq Scan") || (l.contains("organization_members") && l.contains("Bitmap"))
    });
    json!({
        "anchor_pgbench": load_json(&anchor),
        "by_address": load_json(&search_address),
        "by_name_word": load_json(&search_name),
        "ratio_by_address": search_address.rps / anchor.rps,
        "ratio_by_name_word": search_name.rps / anchor.rps,
        "ceiling": ceiling(floor, anchor.rps),
        "ratio_to_ceiling_by_address": search_address.rps / ceiling(floor, anchor.rps),
        "ratio_to_ceiling_by_name_word": search_name.rps / ceiling(floor, anchor.rps),
        "plan": plan,
        "plan_scans_members": scans_members,
    })
}

/// The export beside `psql \copy`, with the server's peak memory.
async fn measure_export(
    url: &str,
    server: &Server,
    big: OrganizationId,
    members: usize,
    token: &str,
) -> Value {
    eprintln!("bench: people: export");
    let copy_seconds = export_anchor(url, big);
    let rss = PeakRss::sample(server.child.id());
    let (export_seconds, exported) = export(&server.base, big, token).await;
    let export_peak_kib = rss.peak();
    json!({
        "rows": exported,
        "seconds": export_seconds,
        "rows_per_second": exported as f64 / export_seconds,
        "psql_copy_rows_per_second": members as f64 / copy_seconds,
        "ratio": copy_seconds / export_seconds,
        "server_peak_rss_mib": export_peak_kib as f64 / 1024.0,
    })
}

/// One user before and after they join 10,000 organizations: `/users/me`
/// and a read of one organization (its membership check), then the first
/// page of `/organizations/mine` beside its anchor.
struct ManyOrganizations {
    user: UserId,
    token: String,
    me_file: std::path::PathBuf,
    read_file: std::path::PathBuf,
    me_before: Load,
    read_before: Load,
}

impl ManyOrganizations {
    fn before(base: &str, seed: &Seed, seconds: u64) -> Self {
        let index = seed.users.len().min(2) - 1;
        let (user, token) = seed.users[index].clone();
        let one_org = seed
            .pairs
            .iter()
            .find(|(u, _)| *u == index)
            .map(|(_, org)| *org)
            .unwrap();
        let me_file = request_file(
            "people-me",
            std::iter::once(format!("/api/v1/users/me\t{token}")),
        );
        let read_file = request_file(
            "people-read",
            std::iter::once(format!("/api/v1/organizations/{one_org}\t{token}")),
        );
        let me_before = wrk(base, "/", Some(&me_file), seconds);
        let read_before = wrk(base, "/", Some(&read_file), seconds);
        Self {
            user,
            token,
            me_file,
            read_file,
            me_before,
            read_before,
        }
    }

    fn after(self, url: &str, base: &str, floor: f64, seconds: u64) -> Value {
        let organizations = env_number("BENCH_PEOPLE_ORGANIZATIONS", 10_000);
        eprintln!("bench: people: {organizations} organizations of one user");
        seed_organizations(url, self.user, organizations);
        let user = self.user;
        let mine_anchor = pgbench_script(
            url,
            "mine",
            &format!(
                "SELECT o.id, o.name, o.slug, o.status, o.metadata, m.role FROM organization_members m \
                 JOIN organizations o ON o.id = m.org_id WHERE m.user_id = '{user}' \
                 AND o.status <> 'DELETED' ORDER BY m.org_id LIMIT 51;\n"
            ),
            seconds,
        );
        let mine_file = request_file(
            "people-mine",
            std::iter::once(format!("/api/v1/organizations/mine\t{}", self.token)),
        );
        let mine = wrk(base, "/", Some(&mine_file), seconds);
        let me_after = wrk(base, "/", Some(&self.me_file), seconds);
        let read_after = wrk(base, "/", Some(&self.read_file), seconds);
        json!({
            "organizations": organizations,
            "mine_anchor_pgbench": load_json(&mine_anchor),
            "mine_first_page": load_json(&mine),
            "ratio_mine": mine.rps / mine_anchor.rps,
            "ratio_mine_to_ceiling": mine.rps / ceiling(floor, mine_anchor.rps),
            "users_me_before": load_json(&self.me_before),
            "users_me_after": load_json(&me_after),
            "users_me_before_over_after": self.me_before.rps / me_after.rps,
            "read_before": load_json(&self.read_before),
            "read_after": load_json(&read_after),
            "read_before_over_after": self.read_before.rps / read_after.rps,
        })
    }
}

fn print_people(result: &Value) {
    let s = &result["search"];
    let e = &result["export"];
    let m = &result["many_organizations"];
    eprintln!(
        "\npeople ({} members; {}; HTTP floor {:.0}/s)\n\
         search anchor (pgbench, address prefix, page of 50): {:.0}/s\n\
         search by address prefix: {:.0}/s, p99 {:.2} ms ({:.2}x anchor, {:.2}x ceiling)\n\
         search by a word of the name: {:.0}/s, p99 {:.2} ms ({:.2}x anchor, {:.2}x ceiling)\n\
         plan scans the members: {}\n\
         export: {} rows in {:.2} s ({:.0} rows/s; psql \\copy {:.0} rows/s; {:.2}x), peak RSS {:.1} MiB\n\
         /organizations/mine, {} organizations: {:.0}/s vs anchor {:.0}/s ({:.2}x; {:.2}x ceiling)\n\
         /users/me before/after: {:.2}; a read of one organization before/after: {:.2}\n",
        result["members"],
        result["configuration"].as_str().unwrap_or_default(),
        result["http_floor"]["rps"].as_f64().unwrap_or(0.0),
        s["anchor_pgbench"]["rps"].as_f64().unwrap_or(0.0),
        s["by_address"]["rps"].as_f64().unwrap_or(0.0),
        s["by_address"]["p99_ms"].as_f64().unwrap_or(0.0),
        s["ratio_by_address"].as_f64().unwrap_or(0.0),
        s["ratio_to_ceiling_by_address"].as_f64().unwrap_or(0.0),
        s["by_name_word"]["rps"].as_f64().unwrap_or(0.0),
        s["by_name_word"]["p99_ms"].as_f64().unwrap_or(0.0),
        s["ratio_by_name_word"].as_f64().unwrap_or(0.0),
        s["ratio_to_ceiling_by_name_word"].as_f64().unwrap_or(0.0),
        s["plan_scans_members"],
        e["rows"],
        e["seconds"].as_f64().unwrap_or(0.0),
        e["rows_per_second"].as_f64().unwrap_or(0.0),
        e["psql_copy_rows_per_second"].as_f64().unwrap_or(0.0),
        e["ratio"].as_f64().unwrap_or(0.0),
        e["server_peak_rss_mib"].as_f64().unwrap_or(0.0),
        m["organizations"],
        m["mine_first_page"]["rps"].as_f64().unwrap_or(0.0),
        m["mine_anchor_pgbench"]["rps"].as_f64().unwrap_or(0.0),
        m["ratio_mine"].as_f64().unwrap_or(0.0),
        m["ratio_mine_to_ceiling"].as_f64().unwrap_or(0.0),
        m["users_me_before_over_after"].as_f64().unwrap_or(0.0),
        m["read_before_over_after"].as_f64().unwrap_or(0.0),
    );
    eprintln!(
        "plan of the search:\n{}",
        s["plan"].as_str().unwrap_or_default()
    );
}
