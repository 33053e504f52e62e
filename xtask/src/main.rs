//! `cargo xtask`: the project's automation, written in Rust so it runs
//! wherever cargo does (see matklad's cargo-xtask).

use std::env;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

mod install;
mod project;
mod stack;

use stack::{Component, Stack};

const HELP: &str = "\
usage: cargo xtask <command>

  test [ARGS]                 bring a fresh `test` stack up, run the whole test
                              suite (nextest, then doctests) against it, bring
                              it down; extra ARGS go to nextest
  dev                         bring the `dev` stack up (data kept), apply
                              migrations and run the service against it
  stack up [COMPONENT...]     start the stack (or some components)
  stack down [COMPONENT...]   stop what the stack started  [--wipe: delete data]
  stack status                what runs where
  stack env                   `export NAME=value` lines for a shell or a test
  migrate [status|up|down [N]|redo] [--dry-run]
                              schema migrations against DATABASE_URL, or
                              SPRING_DATASOURCE_URL (JDBC) + _USERNAME +
                              _PASSWORD, or else the `dev` stack
  secrets rotate              re-encrypt SSO client secrets with the active
                              key (ORGMAN_SSO_ENCRYPTION_KEYS / _ACTIVE_KEY);
                              safe while the service runs (runs
                              `orgman-server secrets rotate`)
  bench [http] [outbox] [import] [scim]
                              http: the hot path beside its anchors (pgbench
                              -S, the HTTP floor, Redis GET), per authorizer
                              and cache setting; outbox: the relay's drain
                              rate and commit-to-broker latency; import: a
                              100,000-member CSV import beside psql \\copy of
                              the same rows, and the server's memory, then
                              scim: a directory's first sync of 10,000 users
                              and 50 groups (also alone). Release
                              build, a fresh `bench` stack; tables on stdout,
                              target/bench/latest.json
  spicedb reconcile           recompute SpiceDB's relationships from
                              PostgreSQL and report what was fixed (same
                              settings, plus FLOWX_LIB_CASCLIENT_SPICEDB_*;
                              runs `orgman-server spicedb reconcile`)

  Stack commands take --profile NAME (default: dev). Components: postgres,
  redis, kafka, spicedb, keycloak. Data and logs: target/stack/<profile>/.
";

fn main() -> ExitCode {
    match run(env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        eprint!("{HELP}");
        return Ok(());
    };
    match command.as_str() {
        "test" => test(rest),
        "dev" => dev(),
        "stack" => stack_command(rest),
        "migrate" => migrate(rest),
        "secrets" => match rest.first().map(String::as_str) {
            Some("rotate") => server_command(&["secrets", "rotate"]),
            _ => bail!("usage: cargo xtask secrets rotate"),
        },
        "bench" => bench(rest),
        "spicedb" => match rest.first().map(String::as_str) {
            Some("reconcile") => server_command(&["spicedb", "reconcile"]),
            _ => bail!("usage: cargo xtask spicedb reconcile"),
        },
        "help" | "--help" | "-h" => {
            eprint!("{HELP}");
            Ok(())
        }
        other => bail!("unknown command {other:?}\n\n{HELP}"),
    }
}

/// Options shared by the stack commands.
struct StackArgs {
    profile: String,
    wipe: bool,
    components: Vec<Component>,
}

fn parse_stack_args(args: &[String]) -> Result<StackArgs> {
    let mut parsed = StackArgs {
        profile: "dev".into(),
        wipe: false,
        components: Vec::new(),
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--profile" => {
                parsed.profile = iter.next().context("--profile needs a name")?.clone();
            }
            "--wipe" => parsed.wipe = true,
            name => parsed.components.push(Component::parse(name)?),
        }
    }
    if !parsed
        .profile
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        bail!("profile names are letters, digits and '-'");
    }
    Ok(parsed)
}

fn stack_command(args: &[String]) -> Result<()> {
    let Some((verb, rest)) = args.split_first() else {
        bail!("stack needs a verb: up, down, status or env\n\n{HELP}");
    };
    let options = parse_stack_args(rest)?;
    let mut stack = Stack::open(&options.profile)?;
    match verb.as_str() {
        "up" => stack.up(&options.components),
        "down" => {
            stack.down(&options.components)?;
            if options.wipe {
                stack.wipe()?;
            }
            Ok(())
        }
        "status" => {
            print!("{}", stack.status()?);
            Ok(())
        }
        "env" => {
            for (name, value) in stack.env()? {
                println!("export {name}={}", stack::shell_quote(&value));
            }
            Ok(())
        }
        other => bail!("unknown stack verb {other:?}\n\n{HELP}"),
    }
}

/// Brings a fresh test stack up, runs every test against it (nextest, then
/// doctests, which nextest does not run), and brings it down whatever
/// happened.
fn test(extra: &[String]) -> Result<()> {
    let root = project::root()?;
    install::console(&root)?;
    let mut stack = Stack::open("test")?;
    stack.down(&[])?;
    stack.wipe()?;
    let mut stack = Stack::open("test")?;
    let outcome = stack
        .up(&[])
        .and_then(|()| run_tests(&root, &mut stack, extra));
    let stopped = stack.down(&[]);
    outcome?;
    stopped
}

fn run_tests(root: &std::path::Path, stack: &mut Stack, extra: &[String]) -> Result<()> {
    let vars = stack.env()?;
    let xtask = env::current_exe().context("cannot locate the xtask binary")?;
    let schemathesis = stack.schemathesis()?;
    let scim2_tester = stack.scim2_tester()?;
    let chromium = install::chromium()?;
    let with_stack = |command: &mut Command| {
        command
            .current_dir(root)
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("ORGMAN_XTASK", &xtask)
            .env("ORGMAN_SCHEMATHESIS", &schemathesis)
            .env("ORGMAN_SCIM2_TESTER", &scim2_tester)
            .env("ORGMAN_CHROMIUM", &chromium);
    };

    let mut tests = Command::new(project::cargo());
    with_stack(&mut tests);
    if project::has_nextest() {
        tests.args([
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--no-fail-fast",
        ]);
    } else {
        eprintln!(
            "xtask: cargo-nextest not found; using cargo test (`cargo install cargo-nextest --locked` for the intended runner)"
        );
        tests.args(["test", "--workspace", "--all-features", "--no-fail-fast"]);
    }
    tests.args(extra);
    let result = project::run(&mut tests).context("tests failed");
    if result.is_ok() && extra.is_empty() {
        let mut doctests = Command::new(project::cargo());
        with_stack(&mut doctests);
        doctests.args(["test", "--doc", "--workspace", "--all-features"]);
        return project::run(&mut doctests).context("doctests failed");
    }
    result
}

/// The development stack (data kept between runs) and the service running
/// against it in the foreground; Ctrl-C stops the service, the stack stays
/// up until `cargo xtask stack down`.
fn dev() -> Result<()> {
    let root = project::root()?;
    install::console(&root)?;
    let mut stack = Stack::open("dev")?;
    stack.up(&[])?;
    let vars = stack.env()?;
    let get = |name: &str| {
        vars.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let port = env::var("SERVER_PORT").unwrap_or_else(|_| "8080".into());
    eprint!("{}", stack.status()?);
    eprintln!(
        "\norgman will listen on http://127.0.0.1:{port} (Swagger UI: /swagger-ui/)\n\
         The console: http://127.0.0.1:{port}/console/ (log in as alice / alice-password, or admin / admin-password)\n\
         Get a token (users: admin, alice, bob, carol; password: <name>-password):\n  \
         TOKEN=$(curl -s -d grant_type=password -d client_id={client} -d username=admin -d password=admin-password \\\n    \
         {issuer}/protocol/openid-connect/token | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')\n  \
         curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:{port}/api/v1/organizations\n\
         Stop the service with Ctrl-C; the stack with `cargo xtask stack down`.\n",
        client = get("OIDC_TEST_CLIENT_ID"),
        issuer = get("OIDC_ISSUER_URL"),
    );
    let mut service = Command::new(project::cargo());
    service
        .current_dir(&root)
        .args([
            "run",
            "--quiet",
            "--package",
            "orgman-server",
            "--bin",
            "orgman-server",
        ])
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("SERVER_PORT", &port)
        .env("SERVER_ADDRESS", "127.0.0.1")
        // Development only: a generated SSO key, and issuers on loopback
        // (the local identity provider) accepted and testable.
        .env("ORGMAN_SSO_ENCRYPTION_KEYS", stack.sso_keys()?)
        .env("ORGMAN_SSO_ALLOW_HTTP_LOOPBACK", "true")
        .env("ORGMAN_SSO_ALLOW_PRIVATE_ISSUERS", "true")
        .env(
            "LOGGING_FORMAT",
            env::var("LOGGING_FORMAT").unwrap_or_else(|_| "text".into()),
        );
    project::run(&mut service)
}

/// Runs one of the service binary's operator commands (`secrets rotate`,
/// `spicedb reconcile`): settings from the environment, or else the `dev`
/// stack's.
fn server_command(args: &[&str]) -> Result<()> {
    let root = project::root()?;
    let mut command = Command::new(project::cargo());
    command.current_dir(&root).args([
        "run",
        "-q",
        "--package",
        "orgman-server",
        "--bin",
        "orgman-server",
        "--",
    ]);
    command.args(args);
    if env::var_os("DATABASE_URL").is_none() && env::var_os("SPRING_DATASOURCE_URL").is_none() {
        let mut stack = Stack::open("dev")?;
        for (name, value) in stack.env()? {
            if env::var_os(&name).is_none() {
                command.env(name, value);
            }
        }
    }
    project::run(&mut command)
}

/// The benchmarks: each a program run in release mode against a fresh
/// `bench` stack, which is always stopped afterwards.
fn bench(names: &[String]) -> Result<()> {
    const KNOWN: &[&str] = &["http", "outbox", "import", "people", "scim"];
    let names: Vec<&str> = if names.is_empty() {
        // `import` runs the SCIM sync beside it.
        KNOWN[..4].to_vec()
    } else {
        names.iter().map(String::as_str).collect()
    };
    if let Some(unknown) = names.iter().find(|n| !KNOWN.contains(n)) {
        bail!(
            "unknown benchmark {unknown:?} (known: {})",
            KNOWN.join(", ")
        );
    }
    install::bench_tools()?;
    let root = project::root()?;
    project::run(Command::new(project::cargo()).current_dir(&root).args([
        "build",
        "--release",
        "--package",
        "orgman-server",
        "--bin",
        "orgman-server",
        "--package",
        "orgman-bench",
        "--bin",
        "orgman-bench",
    ]))?;
    let mut stack = Stack::open("bench")?;
    stack.down(&[])?;
    stack.wipe()?;
    let mut stack = Stack::open("bench")?;
    let outcome = stack.up(&[]).and_then(|()| {
        let vars = stack.env()?;
        let release = root.join("target/release");
        project::run(
            Command::new(release.join("orgman-bench"))
                .current_dir(&root)
                .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env("BENCH_SERVER_BIN", release.join("orgman-server"))
                .env("BENCH_OUTPUT", root.join("target/bench/latest.json"))
                .env("BENCH_NAMES", names.join(" ")),
        )
    });
    let stopped = stack.down(&[]);
    outcome?;
    stopped
}

/// Schema migrations for operators, through the service binary's own
/// `migrate` (so xtask links no adapter): against `DATABASE_URL` or
/// `SPRING_DATASOURCE_URL` when set, else the `dev` stack. Safe to run from
/// several places at once (the migrator holds an advisory lock).
fn migrate(args: &[String]) -> Result<()> {
    let mut command = vec!["migrate"];
    command.extend(args.iter().map(String::as_str));
    server_command(&command)
}
