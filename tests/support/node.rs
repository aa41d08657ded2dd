//! A real `tongban node` process, started from a config and killed when dropped.

use super::*;

/// A real `tongban node` process.
pub(crate) struct RunningNode {
    child: Child,
    pub base: String,
    config: PathBuf,
}

impl RunningNode {
    /// Starts the node and waits for the line that names its HTTP address.
    pub(crate) fn start(config: &Path) -> RunningNode {
        RunningNode::start_with(config, &[])
    }

    /// Starts the node with extra command-line arguments.
    pub(crate) fn start_with(config: &Path, args: &[&str]) -> RunningNode {
        RunningNode::spawn(config, args, &[])
    }

    /// Kills the node and starts it again on the same files with `envs` set (its HTTP port
    /// changes), as an operator would restart it with, say, `TONGBAN_CLOCK_OFFSET_MS`.
    pub(crate) fn restart_with_env(&mut self, envs: &[(&str, &str)]) {
        self.kill();
        *self = RunningNode::spawn(&self.config.clone(), &[], envs);
    }

    fn spawn(config: &Path, args: &[&str], envs: &[(&str, &str)]) -> RunningNode {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tongban"))
            .arg("node")
            .arg("--config")
            .arg(config)
            .args(args)
            .envs(envs.iter().copied())
            // TONGBAN_TEST_LOG sets the nodes' log filter, to trace a failing test.
            .env(
                "RUST_LOG",
                std::env::var("TONGBAN_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tongban node");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("serving HTTP on ").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let Ok(base) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("the node did not start within 30 s: {}", config.display());
        };
        RunningNode {
            child,
            base,
            config: config.to_path_buf(),
        }
    }

    /// The node's process id, to send it signals.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A client for this node that talks through `http` (one trusting a dev CA, say).
    pub(crate) fn client_with(&self, http: reqwest::Client) -> Client {
        Client {
            http,
            base: self.base.clone(),
        }
    }

    /// SIGKILL: no shutdown, no flush.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills and starts the node again on the same files (its port changes).
    pub(crate) fn restart(&mut self) {
        self.kill();
        *self = RunningNode::start(&self.config.clone());
    }

    pub(crate) fn client(&self) -> Client {
        Client {
            // No connection reuse: a server that answers 413 early closes the connection
            // under a request still being sent, and a pooled connection would carry that
            // into the next request.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            base: self.base.clone(),
        }
    }
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        self.kill();
    }
}
