//! The harness: the real `kiln` binary on a free loopback port with its own data directory,
//! a signed JSON client, bounded polling, and the disk-data tools (`kiln admin disk-path`,
//! `qemu-io`, `qemu-img`).
//!
//! Every test starts its own server (about 150 ms): tests never see each other's resources,
//! so counts, quotas and layer files can be asserted exactly. The child is killed on `Drop`,
//! also when a test panics (and then the tail of its log is printed).
//!
//! `KILN_TEST_DATABASE=postgres` runs every server on PostgreSQL instead of SQLite: each
//! `Server` gets a database of its own (`kiln_t_<random>` on `KILN_TEST_PG_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`), dropped when the server is.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

pub const AK: &str = "TESTAK01";
pub const SK: &str = "TESTSK01";
pub const REGION: &str = "cn-north-1";
pub const AZ: &str = "cn-north-1a";
/// The public image every test launches from (localDisk, 40 GiB, synthetic).
pub const IMAGE: &str = "img-ubuntu2204";
/// Every wait in this suite is bounded by this.
pub const WAIT: Duration = Duration::from_secs(20);
/// The bound for waits on real guests (a TCG boot beside the rest of the suite).
pub const WAIT_GUEST: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(40);

pub struct Server {
    child: Option<Child>,
    port: u16,
    root: tempfile::TempDir,
    /// The data directory: `<root>/data`, or the first node's for a peer (`start_peer`).
    data: PathBuf,
    /// The PostgreSQL database URL (PostgreSQL mode and peers).
    database: Option<String>,
    /// The database this server created and drops.
    _db: Option<TestDb>,
    args: Vec<String>,
    env_keys: bool,
    http: reqwest::Client,
    pub access_key: String,
    pub secret_key: String,
}

/// One HTTP exchange: status, headers and the JSON body (already checked for a valid
/// `requestId` equal to the `x-jdcloud-request-id` header).
#[derive(Debug)]
pub struct Resp {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

/// The default 100 ms delays (200 ms deleted-disk retention), unless `extra` names its
/// own, then `extra`.
fn serve_args(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    for flag in ["--transition-delay", "--task-delay"] {
        if !extra.contains(&flag) {
            args.extend([flag.to_string(), "100ms".to_string()]);
        }
    }
    // A deleted disk reads `deleted` briefly, then is gone, as tests that wait for it
    // expect; tests of the retention window set their own.
    if !extra.contains(&"--deleted-retention") {
        args.extend(["--deleted-retention".to_string(), "200ms".to_string()]);
    }
    // On PostgreSQL a restarted node may not know it is alone soon enough to release its
    // predecessor's leases; a short lease keeps resumption quick.
    if postgres_mode() && !extra.contains(&"--task-lease") {
        args.extend(["--task-lease".to_string(), "2s".to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Whether the suite runs on PostgreSQL (`KILN_TEST_DATABASE=postgres`).
pub fn postgres_mode() -> bool {
    std::env::var("KILN_TEST_DATABASE").is_ok_and(|v| v.starts_with("postgres"))
}

/// A PostgreSQL database of one test server, dropped with it.
pub struct TestDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl TestDb {
    pub fn create() -> TestDb {
        let admin_url = std::env::var("KILN_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = format!(
            "kiln_t_{}",
            (0..12)
                .map(|_| char::from(b'a' + (rand_u8() % 26)))
                .collect::<String>()
        );
        psql(&admin_url, &format!("CREATE DATABASE {name}"));
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&admin_url);
        let url = format!("{base}/{name}");
        TestDb {
            admin_url,
            name,
            url,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                self.admin_url.as_str(),
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn rand_u8() -> u8 {
    let mut b = [0u8; 1];
    File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .expect("/dev/urandom");
    b[0]
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql (PostgreSQL client) is required in PostgreSQL mode");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

impl Server {
    /// `kiln serve` with 100 ms transition and task delays; `extra_args` are appended
    /// (a `--transition-delay`/`--task-delay` among them replaces the default, since the
    /// binary refuses a repeated flag).
    pub async fn start(extra_args: &[&str]) -> Server {
        Server::boot(extra_args, true).await
    }

    /// Like `start`, but without `KILN_ACCESS_KEY`/`KILN_SECRET_KEY`: the server generates
    /// the account and the client signs with the keys from `<data-dir>/credentials`.
    pub async fn start_without_keys(extra_args: &[&str]) -> Server {
        Server::boot(extra_args, false).await
    }

    /// Like `start`, after `prepare` has been given the (empty) data directory: to put it
    /// on a small filesystem, say.
    pub async fn start_prepared(extra_args: &[&str], prepare: impl FnOnce(&Path)) -> Server {
        Server::boot_prepared(extra_args, true, prepare).await
    }

    async fn boot(extra_args: &[&str], env_keys: bool) -> Server {
        Server::boot_prepared(extra_args, env_keys, |_| {}).await
    }

    async fn boot_prepared(
        extra_args: &[&str],
        env_keys: bool,
        prepare: impl FnOnce(&Path),
    ) -> Server {
        let root = tempfile::Builder::new()
            .prefix("kiln-api-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir_all(root.path().join("data")).expect("data dir");
        prepare(&root.path().join("data"));
        let args = serve_args(extra_args);
        let db = postgres_mode().then(TestDb::create);
        let http = reqwest::Client::builder()
            // A restarted server must not meet connections pooled from the killed one.
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(15))
            .build()
            .expect("http client");
        let mut s = Server {
            child: None,
            port: free_port(),
            data: root.path().join("data"),
            database: db.as_ref().map(|d| d.url.clone()),
            _db: db,
            root,
            args,
            env_keys,
            http,
            access_key: AK.into(),
            secret_key: SK.into(),
        };
        s.spawn().await;
        if !env_keys {
            let (ak, sk) = s.credentials_file_keys();
            s.access_key = ak;
            s.secret_key = sk;
        }
        s
    }

    /// Another node of the same cluster: its own port and log, this server's database and
    /// data directory (the shared storage root), the same keys. PostgreSQL mode only.
    pub async fn start_peer(&self, extra_args: &[&str]) -> Server {
        assert!(self.database.is_some(), "peers need PostgreSQL mode");
        let root = tempfile::Builder::new()
            .prefix("kiln-peer-")
            .tempdir()
            .expect("tempdir");
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(15))
            .build()
            .expect("http client");
        let mut s = Server {
            child: None,
            port: free_port(),
            data: self.data.clone(),
            database: self.database.clone(),
            _db: None,
            root,
            args: serve_args(extra_args),
            env_keys: self.env_keys,
            http,
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.clone(),
        };
        s.spawn().await;
        s
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server process's peak resident memory so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let pid = self.child.as_ref().expect("server running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM");
        kib * 1024
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data.clone()
    }

    /// The PostgreSQL URL in PostgreSQL mode.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    fn log_path(&self) -> PathBuf {
        self.root.path().join("server.log")
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    async fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("server log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(self.data_dir())
            // importImage/exportImage tests use files in temporary directories.
            .arg("--file-root")
            .arg(std::env::temp_dir())
            .args(&self.args)
            .args(
                self.database
                    .iter()
                    .flat_map(|u| ["--database", u.as_str()]),
            )
            .stdin(Stdio::null())
            // Its own process group, so that a kill also stops the qemu-img it runs.
            .process_group(0)
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .env_remove("KILN_ACCESS_KEY")
            .env_remove("KILN_SECRET_KEY");
        if self.env_keys {
            cmd.env("KILN_ACCESS_KEY", AK).env("KILN_SECRET_KEY", SK);
        }
        self.child = Some(cmd.spawn().expect("spawn kiln serve"));
        let url = format!("http://127.0.0.1:{}/healthz", self.port);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "kiln serve exited ({status}) before becoming healthy:\n{}",
                    self.log_tail(40)
                );
            }
            if let Ok(r) = self.http.get(&url).send().await {
                if r.status().as_u16() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "kiln serve not healthy within {WAIT:?}:\n{}",
                self.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL to the server and the qemu-img children it is running: no graceful
    /// shutdown, like a crash of the host.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let group = format!("-{}", c.id());
            let _ = Command::new("kill")
                .args(["-KILL", "--", &group])
                .stderr(Stdio::null())
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGKILL to the QEMU guests of `--hypervisor qemu` (they outlive the server by
    /// design), found by their pid files.
    fn kill_guests(&self) {
        let Ok(dirs) = std::fs::read_dir(self.data.join("guests")) else {
            return;
        };
        for dir in dirs.flatten() {
            if let Ok(pid) = std::fs::read_to_string(dir.path().join("qemu.pid")) {
                let _ = Command::new("kill")
                    .args(["-KILL", pid.trim()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }

    /// SIGTERM, and the exit status once the server has stopped on its own (bounded).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("server running");
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = c.try_wait().expect("wait for kiln") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "kiln did not stop within {WAIT:?} of SIGTERM"
            );
            std::thread::sleep(POLL);
        }
    }

    /// Start again after `terminate` or `kill`.
    pub async fn start_again(&mut self) {
        self.spawn().await;
    }

    /// SIGKILL, then start again on the same data directory and port.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// SIGKILL, then start again on the same data directory and port with other extra
    /// arguments (the default delays apply unless given).
    pub async fn restart_with(&mut self, extra_args: &[&str]) {
        self.kill();
        self.args = serve_args(extra_args);
        self.spawn().await;
    }

    /// The keys in `<data-dir>/credentials` (`KILN_ACCESS_KEY=…`, `KILN_SECRET_KEY=…`).
    pub fn credentials_file_keys(&self) -> (String, String) {
        let path = self.data_dir().join("credentials");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let get = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_else(|| panic!("{key} missing in {}:\n{text}", path.display()))
                .trim()
                .to_string()
        };
        (get("KILN_ACCESS_KEY"), get("KILN_SECRET_KEY"))
    }

    // ------------------------------------------------------------------ HTTP

    pub async fn get(&self, path_and_query: &str) -> Resp {
        self.send(Method::GET, path_and_query, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        let bytes = serde_json::to_vec(&body).expect("json");
        self.send(Method::POST, path, Some(bytes)).await
    }

    /// POST with a body sent byte for byte (malformed JSON, PascalCase keys…).
    pub async fn post_raw(&self, path: &str, body: &[u8]) -> Resp {
        self.send(Method::POST, path, Some(body.to_vec())).await
    }

    pub async fn delete(&self, path_and_query: &str) -> Resp {
        self.send(Method::DELETE, path_and_query, None).await
    }

    /// The vpc service's modify* calls.
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        let bytes = serde_json::to_vec(&body).expect("json");
        self.send(Method::PATCH, path, Some(bytes)).await
    }

    async fn send(&self, method: Method, path_and_query: &str, body: Option<Vec<u8>>) -> Resp {
        let service = signing_service(path_and_query);
        let auth = Auth::Sign {
            service,
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.clone(),
        };
        self.send_with(method, path_and_query, body, auth).await
    }

    /// Full control over signing: the service of the credential scope, other keys, or
    /// no signature at all.
    pub async fn send_with(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        auth: Auth,
    ) -> Resp {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let host = format!("127.0.0.1:{}", self.port);
        let body = body.unwrap_or_default();
        let mut req = self
            .http
            .request(method.clone(), format!("http://{host}{path_and_query}"));
        if let Auth::Sign {
            service,
            access_key,
            secret_key,
        } = &auth
        {
            // The one place requests are signed (JDCLOUD2, as the Go SDK does).
            for (k, v) in kiln::signing::sign_headers(
                access_key,
                secret_key,
                service,
                &signing_region(path),
                method.as_str(),
                &host,
                path,
                query,
                &body,
            ) {
                req = req.header(k, v);
            }
        }
        if method == Method::POST || method == Method::PATCH {
            req = req.body(body);
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path_and_query}: {e}"));
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r
            .text()
            .await
            .unwrap_or_else(|e| panic!("{method} {path_and_query}: reading body: {e}"));
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("{method} {path_and_query}: HTTP {status}, body is not JSON ({e}): {text:?}")
        });
        let resp = Resp {
            method: method.to_string(),
            path: path_and_query.to_string(),
            status,
            headers,
            body,
        };
        resp.check_request_id();
        resp
    }

    // ------------------------------------------------------------------ polling

    /// Polls GET `path` until the value at `pointer` is the string `want`; returns that
    /// body. Panics with the last response after `timeout` (at most `WAIT_GUEST`).
    pub async fn wait_status(
        &self,
        path: &str,
        pointer: &str,
        want: &str,
        timeout: Duration,
    ) -> Value {
        assert!(timeout <= WAIT_GUEST, "waits are bounded by {WAIT_GUEST:?}");
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.get(path).await;
            if r.body.pointer(pointer).and_then(Value::as_str) == Some(want) {
                return r.body;
            }
            assert!(
                Instant::now() < deadline,
                "GET {path}: {pointer} did not become {want:?} within {timeout:?}; last: HTTP {} {}\nserver log:\n{}",
                r.status,
                r.body,
                self.log_tail(20)
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls GET `path` until it answers 404; returns that response.
    pub async fn wait_gone(&self, path: &str) -> Resp {
        let deadline = Instant::now() + WAIT;
        loop {
            let r = self.get(path).await;
            if r.status == 404 {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "GET {path} still answers HTTP {} after {WAIT:?}: {}",
                r.status,
                r.body
            );
            tokio::time::sleep(POLL).await;
        }
    }

    // ------------------------------------------------------------------ resources

    pub async fn create_instances(&self, body: Value) -> Vec<String> {
        let r = self.post(&path("instances"), body).await;
        ids(r.ok(), "instanceIds")
    }

    /// Creates one instance from `spec` and waits until it is running.
    pub async fn launch(&self, spec: Value) -> String {
        let ids = self
            .create_instances(json!({"instanceSpec": spec, "maxCount": 1}))
            .await;
        assert_eq!(ids.len(), 1, "{ids:?}");
        self.wait_instance(&ids[0], "running").await;
        ids[0].clone()
    }

    pub async fn wait_instance(&self, id: &str, status: &str) -> Value {
        self.wait_status(&instance_path(id), "/result/instance/status", status, WAIT)
            .await
    }

    pub async fn wait_disk(&self, id: &str, status: &str) -> Value {
        self.wait_status(&disk_path(id), "/result/disk/status", status, WAIT)
            .await
    }

    pub async fn wait_image(&self, id: &str, status: &str) -> Value {
        self.wait_status(
            &path(&format!("images/{id}")),
            "/result/image/status",
            status,
            WAIT,
        )
        .await
    }

    /// importImage with `body`, which the call accepts and its task fails: waits for the
    /// image's `error` and returns the failed task's `errorInfo`.
    pub async fn failed_import(&self, body: Value) -> String {
        let r = self.post(&path("images:import"), body).await;
        let image = r.ok()["imageId"].as_str().unwrap().to_string();
        let task = r.ok()["taskId"].as_str().unwrap().to_string();
        self.wait_image(&image, "error").await;
        let r = self.get(&path("imageTasks?taskStatus=failed")).await;
        let tasks = r.ok()["taskSet"].as_array().unwrap().clone();
        let failed = tasks.iter().find(|t| t["taskId"] == task.as_str());
        failed.expect("the failed import task")["errorInfo"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn wait_snapshot(&self, id: &str, status: &str) -> Value {
        self.wait_status(&snapshot_path(id), "/result/snapshot/status", status, WAIT)
            .await
    }

    pub async fn instance(&self, id: &str) -> Value {
        self.get(&instance_path(id)).await.ok()["instance"].clone()
    }

    pub async fn disk(&self, id: &str) -> Value {
        self.get(&disk_path(id)).await.ok()["disk"].clone()
    }

    /// createDisks for one disk (no wait).
    pub async fn create_disk(&self, name: &str, size_gb: i64) -> String {
        let r = self
            .post(
                &path("disks"),
                json!({"diskSpec": disk_spec(name, size_gb), "maxCount": 1}),
            )
            .await;
        let ids = ids(r.ok(), "diskIds");
        assert_eq!(ids.len(), 1, "{ids:?}");
        ids[0].clone()
    }

    /// createDisks for one disk, waiting until it is available.
    pub async fn new_disk(&self, name: &str, size_gb: i64) -> String {
        let id = self.create_disk(name, size_gb).await;
        self.wait_disk(&id, "available").await;
        id
    }

    /// `kiln admin disk-path`: the writable top layer of a cloud disk (`device` None) or of
    /// an instance's device.
    pub fn top_layer(&self, id: &str, device: Option<&str>) -> PathBuf {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
        cmd.args(["admin", "disk-path", "--data-dir"])
            .arg(self.data_dir())
            .arg(id);
        if let Some(d) = device {
            cmd.arg(d);
        }
        let out = cmd.output().expect("run kiln admin disk-path");
        assert!(
            out.status.success(),
            "kiln admin disk-path {id} {device:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        assert!(
            p.is_file(),
            "disk-path printed {} which is no file",
            p.display()
        );
        p
    }

    /// Layer files are removed just after the metadata commit that frees them (rows
    /// first, files after): polls until `file` is gone.
    pub async fn wait_file_gone(&self, file: &Path) {
        let deadline = Instant::now() + WAIT;
        while file.exists() {
            assert!(
                Instant::now() < deadline,
                "{} still exists after {WAIT:?}",
                file.display()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls until the layer files are exactly `want`.
    pub async fn wait_layer_files(&self, want: &BTreeSet<String>) {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.layer_files();
            if &got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "layer files after {WAIT:?}: {got:?}, want {want:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The `*.qcow2` file names in `<data-dir>/layers`.
    pub fn layer_files(&self) -> BTreeSet<String> {
        std::fs::read_dir(self.data_dir().join("layers"))
            .expect("layers dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".qcow2"))
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        self.kill_guests();
        if std::thread::panicking() {
            eprintln!(
                "---- kiln server log (tail) ----\n{}\n--------------------------------",
                self.log_tail(40)
            );
        }
        // A data directory that is a mount point of its own (the storage-full test's tmpfs)
        // cannot be removed while mounted: detach it first, or it stays behind, empty.
        if self.data.starts_with(self.root.path()) && is_mount_point(&self.data) {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.data)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        // A qemu-img that was killed mid-write may still be closing its file.
        for _ in 0..20 {
            if std::fs::remove_dir_all(self.root.path()).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether `dir` is on another filesystem than its parent.
fn is_mount_point(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(dir), dir.parent().map(std::fs::metadata)) {
        (Ok(d), Some(Ok(p))) => d.dev() != p.dev(),
        _ => false,
    }
}

/// How a request is authenticated.
pub enum Auth {
    Sign {
        service: &'static str,
        access_key: String,
        secret_key: String,
    },
    Unsigned,
}

/// The signing service: `disk` for disks, snapshots and the disk quota (`/quotas?type=`),
/// `vpc` for the vpc service's collections (and its `/quotas/`), else `vm`.
pub fn signing_service(path_and_query: &str) -> &'static str {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    const VPC: [&str; 5] = [
        "/vpcs",
        "/subnets",
        "/networkSecurityGroups",
        "/elasticIps",
        "/networkInterfaces",
    ];
    if VPC.iter().any(|c| path.contains(c)) || path.ends_with("/quotas/") {
        return "vpc";
    }
    let disk_quota = path.ends_with("/quotas")
        && query
            .split('&')
            .any(|kv| kv.split('=').next() == Some("type"));
    if path.contains("/disks") || path.contains("/snapshots") || disk_quota {
        "disk"
    } else {
        "vm"
    }
}

/// The region of `/v1/regions/{region}/…`, else the SDKs' fallback `jdcloud-api`.
fn signing_region(path: &str) -> String {
    let mut segs = path.split('/').filter(|s| !s.is_empty());
    while let Some(s) = segs.next() {
        if s == "regions" {
            if let Some(r) = segs.next() {
                return r.to_string();
            }
        }
    }
    "jdcloud-api".into()
}

impl Resp {
    fn describe(&self) -> String {
        format!(
            "{} {} -> HTTP {} {}",
            self.method, self.path, self.status, self.body
        )
    }

    /// Every response carries a 32-char `[a-z0-9]` requestId, also in `x-jdcloud-request-id`.
    fn check_request_id(&self) {
        let rid = self.body["requestId"].as_str().unwrap_or_else(|| {
            panic!("no requestId: {}", self.describe());
        });
        assert!(
            rid.len() == 32
                && rid
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "requestId {rid:?} is not 32 chars of [a-z0-9]: {}",
            self.describe()
        );
        let header = self
            .headers
            .get("x-jdcloud-request-id")
            .and_then(|v| v.to_str().ok());
        assert_eq!(
            header,
            Some(rid),
            "x-jdcloud-request-id header differs from the body: {}",
            self.describe()
        );
    }

    /// Asserts HTTP 200 without an error and returns `result` (or `{}` for actions that
    /// answer only a requestId).
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "expected success: {}", self.describe());
        assert!(
            self.body.get("error").is_none(),
            "expected success: {}",
            self.describe()
        );
        static EMPTY: Value = Value::Null;
        self.body.get("result").unwrap_or(&EMPTY)
    }

    /// Asserts the JD error envelope: HTTP code, integer `error.code`, `error.status` and
    /// the exact `error.message`.
    #[track_caller]
    pub fn err(&self, code: u16, status: &str, message: &str) {
        let e = &self.body["error"];
        let ok = self.status == code
            && e["code"].is_u64()
            && e["code"].as_u64() == Some(code as u64)
            && e["status"] == status
            && e["message"] == message
            && self.body.get("result").is_none();
        assert!(
            ok,
            "expected HTTP {code} {{code: {code}, status: {status:?}, message: {message:?}}}\n got {}",
            self.describe()
        );
    }
}

// ---------------------------------------------------------------------- paths and bodies

/// Time for garbage collection that is still running after a commit to finish, before
/// asserting that something it must not delete is still there.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// `/v1/regions/cn-north-1/{rest}`.
pub fn path(rest: &str) -> String {
    format!("/v1/regions/{REGION}/{rest}")
}

pub fn instance_path(id: &str) -> String {
    path(&format!("instances/{id}"))
}

/// `…/instances/{id}:{action}` with the colon sent raw (as the Python SDK does).
pub fn action_path(id: &str, action: &str) -> String {
    path(&format!("instances/{id}:{action}"))
}

pub fn disk_path(id: &str) -> String {
    path(&format!("disks/{id}"))
}

pub fn snapshot_path(id: &str) -> String {
    path(&format!("snapshots/{id}"))
}

/// A minimal InstanceSpec: g.n2.medium from the public Ubuntu image, local system disk.
pub fn instance_spec(name: &str) -> Value {
    json!({"az": AZ, "instanceType": "g.n2.medium", "imageId": IMAGE, "name": name})
}

/// A DiskSpec for createDisks (ssd.gp1 in `AZ`).
pub fn disk_spec(name: &str, size_gb: i64) -> Value {
    json!({"az": AZ, "name": name, "diskType": "ssd.gp1", "diskSizeGB": size_gb})
}

/// `result[key]` as a list of strings.
#[track_caller]
pub fn ids(result: &Value, key: &str) -> Vec<String> {
    result[key]
        .as_array()
        .unwrap_or_else(|| panic!("result has no {key} array: {result}"))
        .iter()
        .map(|v| v.as_str().expect("string id").to_string())
        .collect()
}

/// The cloud disk ids of an instance's system and data disks, by device name.
pub fn attached_cloud_disk(instance: &Value, device: &str) -> Option<String> {
    let mut all = vec![instance["systemDisk"].clone()];
    all.extend(
        instance["dataDisks"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    all.iter()
        .find(|d| d["deviceName"] == device)
        .and_then(|d| d["cloudDisk"]["diskId"].as_str())
        .map(str::to_string)
}

// ---------------------------------------------------------------------- qemu tools

/// Runs one `qemu-io` command on a qcow2 file; true when it succeeded (a failed
/// `read -P` pattern check fails).
pub fn qemu_io(file: &Path, command: &str) -> bool {
    let out = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", command])
        .arg(file)
        .output()
        .expect("run qemu-io (Debian: qemu-utils)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.success() && !text.contains("failed")
}

/// Writes `len` bytes of `pattern` at offset 0, asserting success.
#[track_caller]
pub fn write_pattern(file: &Path, pattern: &str, len: &str) {
    assert!(
        qemu_io(file, &format!("write -P {pattern} 0 {len}")),
        "qemu-io write {pattern} into {} failed",
        file.display()
    );
}

/// True when the first `len` bytes all read as `pattern`.
pub fn reads(file: &Path, pattern: &str, len: &str) -> bool {
    qemu_io(file, &format!("read -P {pattern} 0 {len}"))
}

/// `qemu-img compare`: 0 identical, 1 different, 2 error.
pub fn qemu_img_compare(a: &Path, b: &Path) -> i32 {
    let out = Command::new("qemu-img")
        .args(["compare", "-q", "-f", "qcow2", "-F", "qcow2"])
        .arg(a)
        .arg(b)
        .output()
        .expect("run qemu-img compare");
    out.status.code().unwrap_or(-1)
}

/// The harness itself: a server leaves nothing behind in the temporary directory, also
/// when its data directory is a filesystem of its own (needs root to mount a tmpfs).
#[tokio::test]
async fn a_dropped_server_leaves_nothing_behind() {
    let s = Server::start(&[]).await;
    let root = s.data_dir().parent().unwrap().to_path_buf();
    assert!(root.join("server.log").exists());
    drop(s);
    assert!(!root.exists(), "{} left behind", root.display());

    let mounted = std::cell::Cell::new(false);
    let s = Server::start_prepared(&[], |dir| {
        mounted.set(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
                .arg(dir)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|st| st.success()),
        );
    })
    .await;
    if !mounted.get() {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    }
    let root = s.data_dir().parent().unwrap().to_path_buf();
    assert!(is_mount_point(&s.data_dir()));
    drop(s);
    assert!(!root.exists(), "{} left behind", root.display());
}
