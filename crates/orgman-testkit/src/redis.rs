//! Redis deployments of a test's own, from the stack's `redis-server`: a
//! Sentinel set (a master, a replica, three Sentinels) and a three-node
//! Cluster, on private ports with their files in a folder of their own.
//! Every process is killed and the folder removed when the value is dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use orgman_launch::Owned;
use std::time::Duration;

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const REDIS_CLI: &str = "/usr/bin/redis-cli";

fn folder(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(crate::unique_name(prefix));
    std::fs::create_dir_all(&dir).expect("a folder for the Redis processes");
    dir
}

fn server(dir: &Path, args: &[&str]) -> Owned {
    let log = std::fs::File::create(dir.join(format!("{}.log", crate::unique_name("redis"))))
        .expect("a log file");
    Owned::spawn(
        Command::new(REDIS_SERVER)
            .args(args)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(log)
            .stderr(Stdio::null()),
    )
    .unwrap_or_else(|e| panic!("{REDIS_SERVER} does not start ({e}): start the stack once"))
}

/// `redis-cli -p port args...`, its output trimmed.
fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new(REDIS_CLI)
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// `127.0.0.1:port` for each port, comma-separated.
fn addresses(ports: &[u16]) -> String {
    ports
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn stop(children: &mut Vec<Owned>, dir: &Path) {
    children.clear();
    let _ = std::fs::remove_dir_all(dir);
}

/// A master, its replica and three Sentinels watching it (quorum two)
/// under the name [`RedisSentinels::MASTER`].
#[derive(Debug)]
pub struct RedisSentinels {
    dir: PathBuf,
    master: u16,
    replica: u16,
    sentinels: Vec<u16>,
    children: Vec<Owned>,
}

impl RedisSentinels {
    /// The master's name for the Sentinels.
    pub const MASTER: &'static str = "orgman";

    /// Starts the set and waits until every Sentinel knows the master and
    /// its replica.
    ///
    /// # Panics
    /// When Redis does not start (the stack installs it).
    pub fn start() -> RedisSentinels {
        let dir = folder("sentinels");
        let (master, replica) = (crate::free_port(), crate::free_port());
        let mut children = vec![
            server(&dir, &["--port", &master.to_string()]),
            server(
                &dir,
                &[
                    "--port",
                    &replica.to_string(),
                    "--replicaof",
                    "127.0.0.1",
                    &master.to_string(),
                ],
            ),
        ];
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            let port = crate::free_port();
            // Sentinels rewrite their configuration: one file each. A
            // failover happens only when a test asks for one: with a
            // master "down" after 1 s without an answer, a busy 2-core
            // machine running the whole suite can have the Sentinels fail
            // over in the middle of a test that reads its own writes (the
            // likely cause of one run's missing cache hits).
            let config = dir.join(format!("sentinel-{port}.conf"));
            std::fs::write(
                &config,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                     sentinel monitor {name} 127.0.0.1 {master} 2\n\
                     sentinel down-after-milliseconds {name} 60000\n\
                     sentinel failover-timeout {name} 5000\n",
                    dir = dir.display(),
                    name = Self::MASTER,
                ),
            )
            .expect("a Sentinel configuration");
            children.push(
                Owned::spawn(
                    Command::new(REDIS_SERVER)
                        .arg(&config)
                        .arg("--sentinel")
                        .stdout(Stdio::null())
                        .stderr(Stdio::null()),
                )
                .expect("a Sentinel starts"),
            );
            sentinels.push(port);
        }
        let set = RedisSentinels {
            dir,
            master,
            replica,
            sentinels,
            children,
        };
        crate::eventually_blocking("the replica in sync", Duration::from_secs(20), || {
            cli(replica, &["INFO", "replication"]).contains("master_link_status:up")
        });
        for &sentinel in &set.sentinels {
            crate::eventually_blocking(
                "the Sentinels to see the replica and each other",
                Duration::from_secs(20),
                || {
                    let replicas = cli(sentinel, &["SENTINEL", "replicas", Self::MASTER]);
                    let others = cli(sentinel, &["SENTINEL", "sentinels", Self::MASTER]);
                    replicas.contains(&replica.to_string())
                        && others.matches("127.0.0.1").count() >= 2
                },
            );
        }
        set
    }

    /// The Sentinels, `host:port,host:port,host:port`.
    pub fn nodes(&self) -> String {
        addresses(&self.sentinels)
    }

    /// The port of the current master, as the Sentinels see it.
    pub fn master_port(&self) -> u16 {
        let answer = cli(
            self.sentinels[0],
            &["SENTINEL", "get-master-addr-by-name", Self::MASTER],
        );
        answer
            .lines()
            .nth(1)
            .and_then(|port| port.trim().parse().ok())
            .expect("the Sentinels name a master")
    }

    /// Makes the replica the master (Sentinel's manual failover) and waits
    /// until it accepts writes.
    pub fn fail_over(&self) {
        let before = self.master_port();
        let promoted = if before == self.master {
            self.replica
        } else {
            self.master
        };
        assert_eq!(
            cli(self.sentinels[0], &["SENTINEL", "FAILOVER", Self::MASTER]),
            "OK"
        );
        crate::eventually_blocking("the failover", Duration::from_secs(30), || {
            self.master_port() == promoted
                && cli(promoted, &["INFO", "replication"]).contains("role:master")
        });
    }

    /// Cuts the replica off the master (`REPLICAOF NO ONE`): writes then
    /// reach no replica.
    pub fn detach_replica(&self) {
        assert_eq!(cli(self.replica, &["REPLICAOF", "NO", "ONE"]), "OK");
        let master = self.master;
        crate::eventually_blocking(
            "the master to see no replica",
            Duration::from_secs(10),
            || cli(master, &["INFO", "replication"]).contains("connected_slaves:0"),
        );
    }

    /// Makes the replica follow the master again.
    pub fn reattach_replica(&self) {
        let master = self.master.to_string();
        assert_eq!(
            cli(self.replica, &["REPLICAOF", "127.0.0.1", &master]),
            "OK"
        );
        self.wait_for_replica();
    }

    /// Waits until the current master has its replica again (after a
    /// failover, the old master rejoins as the new one's replica).
    pub fn wait_for_replica(&self) {
        let master = self.master_port();
        crate::eventually_blocking(
            "the old master to rejoin as a replica",
            Duration::from_secs(30),
            || {
                let info = cli(master, &["INFO", "replication"]);
                info.contains("connected_slaves:1") && info.contains("state=online")
            },
        );
    }

    /// A key's value on the current master.
    pub fn get(&self, key: &str) -> String {
        cli(self.master_port(), &["GET", key])
    }
}

impl Drop for RedisSentinels {
    fn drop(&mut self) {
        stop(&mut self.children, &self.dir);
    }
}

/// A Redis Cluster of three masters (no replicas), all slots assigned.
#[derive(Debug)]
pub struct RedisCluster {
    dir: PathBuf,
    ports: Vec<u16>,
    children: Vec<Owned>,
}

impl RedisCluster {
    /// Starts three nodes, joins them into a cluster and waits until it is
    /// `ok` on every node.
    ///
    /// # Panics
    /// When Redis does not start (the stack installs it).
    pub fn start() -> RedisCluster {
        let dir = folder("cluster");
        let ports: Vec<u16> = (0..3).map(|_| crate::free_port()).collect();
        let children = ports
            .iter()
            .map(|port| {
                let nodes = dir.join(format!("nodes-{port}.conf"));
                server(
                    &dir,
                    &[
                        "--port",
                        &port.to_string(),
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        &nodes.display().to_string(),
                        "--cluster-node-timeout",
                        "2000",
                    ],
                )
            })
            .collect();
        let cluster = RedisCluster {
            dir,
            ports,
            children,
        };
        for &port in &cluster.ports {
            crate::eventually_blocking("a cluster node to answer", Duration::from_secs(10), || {
                cli(port, &["PING"]) == "PONG"
            });
        }
        let created = Command::new(REDIS_CLI)
            .args(["--cluster", "create"])
            .args(addresses(&cluster.ports).split(','))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create runs");
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stdout)
        );
        for &port in &cluster.ports {
            crate::eventually_blocking("the cluster to be ok", Duration::from_secs(20), || {
                cli(port, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
            });
        }
        cluster
    }

    /// The nodes, `host:port,host:port,host:port`.
    pub fn nodes(&self) -> String {
        addresses(&self.ports)
    }

    /// How many keys each node holds.
    pub fn keys_per_node(&self) -> Vec<u64> {
        self.ports
            .iter()
            .map(|&port| cli(port, &["DBSIZE"]).parse().unwrap_or(0))
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        stop(&mut self.children, &self.dir);
    }
}
