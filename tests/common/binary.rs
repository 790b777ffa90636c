//! The real binary, run as users run it: with a configuration file, its stderr collected,
//! its memory read from /proc.

use std::time::Duration;

/// The start of a configuration file for the binary: the harness's cluster upstream and one
/// OAUTHBEARER listener named `oauth` on ephemeral ports; then a path in target/ to write it
/// to, named after `name`.
pub fn oauth_listener_config(name: &str) -> (String, std::path::PathBuf) {
    let dir = super::repo().join("target").join("test-configs");
    std::fs::create_dir_all(&dir).expect("config dir");
    let path = dir.join(format!("{name}-{}.toml", super::unique_tag()));
    let servers: Vec<String> = super::kafka_bootstrap()
        .iter()
        .map(|s| format!("{s:?}"))
        .collect();
    let base = format!(
        "[upstream]\nbootstrap_servers = [{}]\n\
         [[listeners]]\nname = \"oauth\"\nbind_address = \"127.0.0.1\"\nadvertised_host = \"127.0.0.1\"\n\
         bootstrap_port = 0\nbroker_port_base = 0\nauthentication = \"oauthbearer\"\n",
        servers.join(", "),
    );
    (base, path)
}

/// A configuration for load runs: one OAUTHBEARER listener on the harness's cluster, the test
/// providers, everyone a super user, and room for `connections` clients logging in at once
/// (at the defaults, 1,000 unauthenticated connections and 256 per address, the rest would be
/// refused at accept; a backlog of 4,096 keeps the kernel from dropping their SYNs).
pub fn many_clients_config(name: &str, connections: usize) -> std::path::PathBuf {
    let (base, path) = oauth_listener_config(name);
    let text = format!(
        "{base}[limits]\nmax_connections = {}\nmax_unauthenticated_connections = {connections}\n\
         max_unauthenticated_per_address = {connections}\nlisten_backlog = 4096\n{}{}",
        connections + 100,
        super::Idp::identity_toml(""),
        super::Idp::allow_everyone(),
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// The binary, run with a configuration file; its stderr is collected.
pub struct Binary {
    child: tokio::process::Child,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Binary {
    pub async fn start(config: &std::path::Path) -> Binary {
        Self::spawn(
            tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-oidc-proxy")),
            config,
            true,
        )
    }

    /// As [`Binary::start`], collecting its stderr without echoing it: for load runs, where
    /// echoing every line would take CPU from the proxy.
    ///
    /// With `KOP_BENCH_WRAPPER` set (a command line such as `heaptrack -o FILE`), the binary
    /// runs under that command, for a profile of a load run (`scripts/per-login.sh allocations`).
    /// The process watched is then the wrapper's: its CPU figures are not the proxy's.
    pub async fn start_quiet(config: &std::path::Path) -> Binary {
        let binary = env!("CARGO_BIN_EXE_kafka-oidc-proxy");
        let command = match std::env::var("KOP_BENCH_WRAPPER") {
            Ok(wrapper) => {
                let mut c = tokio::process::Command::new("sh");
                c.arg("-c")
                    .arg(format!(r#"exec {wrapper} "$0" "$@""#))
                    .arg(binary);
                c
            }
            Err(_) => tokio::process::Command::new(binary),
        };
        Self::spawn(command, config, false)
    }

    /// The binary under a memory limit: `prlimit` (util-linux) sets RLIMIT_DATA, which bounds
    /// its private writable memory (heap, allocations, thread stacks), and execs it, so the
    /// process keeps prlimit's pid. An allocation beyond the limit fails, and Rust aborts.
    pub async fn start_limited(config: &std::path::Path, data_bytes: u64) -> Binary {
        let mut command = tokio::process::Command::new("prlimit");
        command
            .arg(format!("--data={data_bytes}:{data_bytes}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_kafka-oidc-proxy"));
        Self::spawn(command, config, true)
    }

    fn spawn(mut command: tokio::process::Command, config: &std::path::Path, echo: bool) -> Binary {
        use tokio::io::AsyncBufReadExt;
        let mut child = command
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the proxy binary starts");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
        let sink = stderr.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if echo {
                    eprintln!("proxy: {line}");
                }
                let mut s = sink.lock().expect("log");
                s.push_str(&line);
                s.push('\n');
            }
        });
        Binary { child, stderr }
    }

    /// Waits for a log line containing every part, and returns it.
    pub async fn line(&self, parts: &[&str]) -> String {
        for _ in 0..300 {
            let found = self
                .stderr
                .lock()
                .expect("log")
                .lines()
                .find(|l| parts.iter().all(|p| l.contains(p)))
                .map(str::to_owned);
            if let Some(l) = found {
                return l;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no log line with {parts:?}");
    }

    pub fn hangup(&self) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Binary {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Every line logged so far.
    pub fn log(&self) -> String {
        self.stderr.lock().expect("log").clone()
    }

    /// A field of /proc/<pid>/status in KiB (`VmRSS`, `VmHWM`).
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc status of the proxy");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/<pid>/status"))
    }

    /// The soft value of one limit in /proc/<pid>/limits ("Max data size"...).
    pub fn limit(&self, name: &str) -> String {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.pid()))
            .expect("/proc limits of the proxy");
        limits
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or_else(|| panic!("{name} in /proc/<pid>/limits"))
            .to_owned()
    }

    /// Resets the peak resident size (VmHWM) to the current one and returns it in KiB.
    pub fn reset_peak(&self) -> u64 {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5")
            .expect("reset the peak RSS through /proc/<pid>/clear_refs");
        self.status_kib("VmRSS")
    }

    /// The address of a listener, read off its "bootstrap listener ready" line.
    pub async fn bootstrap(&self, listener: &str) -> String {
        let ready = self
            .line(&["bootstrap listener ready", &format!("listener={listener}")])
            .await;
        ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix("addr="))
            .expect("addr= in the line")
            .to_owned()
    }
}

/// User and system time of a process.
#[derive(Clone, Copy)]
pub struct Cpu {
    pub user: Duration,
    pub system: Duration,
    /// Page faults, minor and major: fresh memory the process touched.
    pub faults: u64,
}

impl Cpu {
    /// The time spent since `before`.
    pub fn since(self, before: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(before.user),
            system: self.system.saturating_sub(before.system),
            faults: self.faults.saturating_sub(before.faults),
        }
    }
}

impl Binary {
    /// The process's user and system time so far, threads that ended included.
    pub fn cpu(&self) -> Cpu {
        Cpu::of(self.pid())
    }
}

impl Cpu {
    /// The user and system time so far of process `pid`, threads that ended included.
    pub fn of(pid: u32) -> Cpu {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
        // Fields after the command name (which may hold spaces): state is the first, minflt
        // the 8th, majflt the 10th, utime the 12th and stime the 13th (in clock ticks).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .expect("(comm)")
            .1
            .split_whitespace()
            .collect();
        let ticks = |i: usize| {
            let n: u64 = fields[i].parse().expect("a tick count");
            Duration::from_secs_f64(n as f64 / clock_ticks_per_second())
        };
        let count = |i: usize| fields[i].parse::<u64>().expect("a fault count");
        Cpu {
            user: ticks(11),
            system: ticks(12),
            faults: count(7) + count(9),
        }
    }
}

/// The clock ticks of /proc's times, asked of `getconf` once.
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let out = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .expect("getconf CLK_TCK");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("CLK_TCK is a number")
    })
}
