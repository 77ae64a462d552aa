//! `kiln account create|list|disable|enable|rotate-key` against the data directory of a
//! running server: the keys it prints sign requests at once, a disabled account or a
//! rotated-away key is refused with 401 ACCESS_ERROR `Invalid accessKey` from the next
//! request on, and no secret key is ever shown again after creation.

use std::process::{Command, Output};

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::*;

/// An account's keys as `kiln account create`/`rotate-key` print them.
#[derive(Debug, Clone)]
pub struct Keys {
    pub pin: String,
    pub access_key: String,
    pub secret_key: String,
}

/// Runs `kiln account ARGS… --data-dir <the server's data dir>`.
pub fn kiln_account(s: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("account")
        .args(args)
        .arg("--data-dir")
        .arg(s.data_dir())
        .output()
        .expect("run kiln account")
}

/// stdout of a `kiln account` run that must succeed.
#[track_caller]
pub fn kiln_account_ok(s: &Server, args: &[&str]) -> String {
    let out = kiln_account(s, args);
    assert!(
        out.status.success(),
        "kiln account {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Parses the one JSON object `create`/`rotate-key` print: exactly pin, accessKey, secretKey.
#[track_caller]
fn parse_keys(stdout: &str) -> Keys {
    assert_eq!(stdout.lines().count(), 1, "one line of JSON: {stdout:?}");
    let v: Value = serde_json::from_str(stdout).expect("stdout is one JSON object");
    let obj = v.as_object().expect("a JSON object");
    let mut names: Vec<&str> = obj.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["accessKey", "pin", "secretKey"], "{stdout}");
    let get = |k: &str| v[k].as_str().expect("string").to_string();
    let keys = Keys {
        pin: get("pin"),
        access_key: get("accessKey"),
        secret_key: get("secretKey"),
    };
    assert!(keys.pin.starts_with("kiln-"), "{keys:?}");
    for k in [&keys.access_key, &keys.secret_key] {
        assert!(
            k.len() == 32 && k.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{keys:?}"
        );
    }
    keys
}

/// `kiln account create --name NAME` on the server's data directory.
pub fn create_account(s: &Server, name: &str) -> Keys {
    parse_keys(&kiln_account_ok(s, &["create", "--name", name]))
}

/// A client of `s` that signs with `keys` (the `Server` methods sign with its first account).
pub struct Tenant<'a> {
    pub s: &'a Server,
    pub keys: Keys,
}

impl<'a> Tenant<'a> {
    pub fn new(s: &'a Server, keys: Keys) -> Tenant<'a> {
        Tenant { s, keys }
    }

    pub async fn send(&self, method: Method, path_and_query: &str, body: Option<Value>) -> Resp {
        let auth = Auth::Sign {
            service: signing_service(path_and_query),
            access_key: self.keys.access_key.clone(),
            secret_key: self.keys.secret_key.clone(),
        };
        let body = body.map(|b| serde_json::to_vec(&b).expect("json"));
        self.s.send_with(method, path_and_query, body, auth).await
    }

    pub async fn get(&self, path_and_query: &str) -> Resp {
        self.send(Method::GET, path_and_query, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(body)).await
    }

    /// Polls GET `path` until `pointer` is the string `want`.
    pub async fn wait_status(&self, path: &str, pointer: &str, want: &str) -> Value {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let r = self.get(path).await;
            if r.body.pointer(pointer).and_then(Value::as_str) == Some(want) {
                return r.body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "GET {path}: {pointer} did not become {want:?} within {WAIT:?}; last: HTTP {} {}",
                r.status,
                r.body
            );
            tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        }
    }

    /// createInstances for one instance, waiting until it runs.
    pub async fn launch(&self, spec: Value) -> String {
        let r = self
            .post(
                &path("instances"),
                json!({"instanceSpec": spec, "maxCount": 1}),
            )
            .await;
        let id = ids(r.ok(), "instanceIds").remove(0);
        self.wait_status(&instance_path(&id), "/result/instance/status", "running")
            .await;
        id
    }

    /// createDisks for one disk, waiting until it is available.
    pub async fn new_disk(&self, name: &str, size_gb: i64) -> String {
        let r = self
            .post(
                &path("disks"),
                json!({"diskSpec": disk_spec(name, size_gb), "maxCount": 1}),
            )
            .await;
        let id = ids(r.ok(), "diskIds").remove(0);
        self.wait_status(&disk_path(&id), "/result/disk/status", "available")
            .await;
        id
    }
}

/// describeInstances' totalCount for a tenant (asserting success).
async fn instance_count(t: &Tenant<'_>) -> i64 {
    t.get(&path("instances")).await.ok()["totalCount"]
        .as_i64()
        .expect("totalCount")
}

#[track_caller]
fn refused(r: &Resp) {
    r.err(401, "ACCESS_ERROR", "Invalid accessKey");
}

#[tokio::test]
async fn created_account_signs_and_can_be_disabled_enabled_and_rotated() {
    let s = Server::start(&[]).await;
    let first = s.launch(instance_spec("of-the-first")).await;

    // create: one JSON object whose keys sign requests of the running server at once.
    let out = kiln_account(&s, &["create", "--name", "ci"]);
    assert!(out.status.success(), "{out:?}");
    let b = parse_keys(&String::from_utf8(out.stdout).unwrap());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains(&b.secret_key), "{stderr}");
    let t = Tenant::new(&s, b.clone());
    assert_eq!(instance_count(&t).await, 0, "a new account owns nothing");
    let mine = t.launch(instance_spec("of-b")).await;
    assert_eq!(instance_count(&t).await, 1);
    let r = t.get(&path("images?imageSource=public")).await;
    assert_eq!(r.ok()["totalCount"], 3);
    // The first account still sees only its own instance.
    let r = s.get(&path("instances")).await;
    assert_eq!(r.ok()["totalCount"], 1);
    assert_eq!(r.ok()["instances"][0]["instanceId"], first.as_str());

    // disable: refused at once, as an unknown key is; the other account is unaffected.
    let text = kiln_account_ok(&s, &["disable", &b.pin]);
    assert!(text.contains(&b.pin) && text.contains("disabled"), "{text}");
    refused(&t.get(&path("instances")).await);
    refused(&t.get(&instance_path(&mine)).await);
    refused(
        &t.post(
            &path("disks"),
            json!({"diskSpec": disk_spec("d", 20), "maxCount": 1}),
        )
        .await,
    );
    s.get(&path("instances")).await.ok();
    // Disabling twice is harmless.
    kiln_account_ok(&s, &["disable", &b.pin]);

    // enable: the same keys work again, the resources were kept.
    let text = kiln_account_ok(&s, &["enable", &b.pin]);
    assert!(text.contains("enabled"), "{text}");
    let r = t.get(&instance_path(&mine)).await;
    assert_eq!(r.ok()["instance"]["status"], "running");

    // rotate-key: new keys for the same pin; the old access key is refused at once.
    let rotated = parse_keys(&kiln_account_ok(&s, &["rotate-key", &b.pin]));
    assert_eq!(rotated.pin, b.pin);
    assert_ne!(rotated.access_key, b.access_key);
    assert_ne!(rotated.secret_key, b.secret_key);
    refused(&t.get(&path("instances")).await);
    let t2 = Tenant::new(&s, rotated.clone());
    assert_eq!(instance_count(&t2).await, 1, "same account, same resources");
    // The old secret with the new access key does not verify either.
    let mixed = Tenant::new(
        &s,
        Keys {
            secret_key: b.secret_key.clone(),
            ..rotated.clone()
        },
    );
    mixed
        .get(&path("instances"))
        .await
        .err(401, "ACCESS_ERROR", "sign result is not same [gw]");

    // Unknown pins are an error, and change nothing.
    for cmd in ["disable", "enable", "rotate-key"] {
        let out = kiln_account(&s, &[cmd, "kiln-nosuchpin"]);
        assert!(!out.status.success(), "{cmd}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("kiln-nosuchpin"), "{cmd}: {err}");
    }
    assert_eq!(instance_count(&t2).await, 1);

    // Disabling the first account (the server's own) works the same way.
    let list = list_json(&s);
    let first_pin = list[0]["pin"].as_str().unwrap().to_string();
    assert_eq!(list[0]["accessKey"], AK);
    kiln_account_ok(&s, &["disable", &first_pin]);
    refused(&s.get(&path("instances")).await);
    assert_eq!(instance_count(&t2).await, 1);
    kiln_account_ok(&s, &["enable", &first_pin]);
    s.get(&path("instances")).await.ok();

    // No secret key ever reached the server's log.
    let log = s.log_tail(100_000);
    for secret in [SK, &b.secret_key, &rotated.secret_key] {
        assert!(!log.contains(secret), "secret {secret} in the server log");
    }
}

fn list_json(s: &Server) -> Vec<Value> {
    let text = kiln_account_ok(s, &["list", "--output", "json"]);
    let v: Value = serde_json::from_str(&text).expect("list --output json is JSON");
    v.as_array().expect("an array").clone()
}

#[tokio::test]
async fn list_shows_every_account_but_never_a_secret_key() {
    let s = Server::start(&[]).await;
    let a = create_account(&s, "alpha");
    let b = create_account(&s, "beta");
    kiln_account_ok(&s, &["disable", &b.pin]);
    let rotated = parse_keys(&kiln_account_ok(&s, &["rotate-key", &a.pin]));
    let secrets = [SK, &a.secret_key, &b.secret_key, &rotated.secret_key];

    let list = list_json(&s);
    assert_eq!(list.len(), 3, "{list:?}");
    for entry in &list {
        let mut names: Vec<&str> = entry
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["accessKey", "createdAt", "disabled", "name", "pin"],
            "{entry}"
        );
        let created = entry["createdAt"].as_str().unwrap();
        assert!(
            created.len() == 20 && created.ends_with('Z') && &created[10..11] == "T",
            "{created}"
        );
    }
    // Oldest first: the server's own account, then alpha and beta.
    assert_eq!(list[0]["accessKey"], AK);
    assert_eq!(list[0]["disabled"], false);
    assert_eq!(list[1]["pin"], a.pin.as_str());
    assert_eq!(list[1]["name"], "alpha");
    assert_eq!(list[1]["accessKey"], rotated.access_key.as_str());
    assert_eq!(list[2]["pin"], b.pin.as_str());
    assert_eq!(list[2]["name"], "beta");
    assert_eq!(list[2]["accessKey"], b.access_key.as_str());
    assert_eq!(list[2]["disabled"], true);

    let table = kiln_account_ok(&s, &["list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].starts_with("PIN"), "{table}");
    assert!(
        lines[2].contains(&a.pin) && lines[2].contains("alpha") && lines[2].contains("enabled"),
        "{table}"
    );
    assert!(
        lines[3].contains(&b.pin) && lines[3].contains("disabled"),
        "{table}"
    );

    let json_text = kiln_account_ok(&s, &["list", "-o", "json"]);
    for secret in secrets {
        assert!(!table.contains(secret), "secret in `list`: {table}");
        assert!(!json_text.contains(secret), "secret in `list -o json`");
    }
}

#[tokio::test]
async fn rotating_the_generated_account_rewrites_the_credentials_file() {
    let s = Server::start_without_keys(&[]).await;
    let (old_ak, old_sk) = s.credentials_file_keys();
    let list = list_json(&s);
    assert_eq!(list.len(), 1);
    let pin = list[0]["pin"].as_str().unwrap();
    let new = parse_keys(&kiln_account_ok(&s, &["rotate-key", pin]));
    assert_eq!(
        s.credentials_file_keys(),
        (new.access_key.clone(), new.secret_key.clone())
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.data_dir().join("credentials"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The old pair is refused, the new one works.
    let old = Tenant::new(
        &s,
        Keys {
            pin: pin.to_string(),
            access_key: old_ak,
            secret_key: old_sk,
        },
    );
    refused(&old.get(&path("instances")).await);
    Tenant::new(&s, new.clone())
        .get(&path("instances"))
        .await
        .ok();
    // A new account does not touch the file.
    create_account(&s, "other");
    assert_eq!(s.credentials_file_keys(), (new.access_key, new.secret_key));
}

/// `kiln account` writes the database from another process while the server writes it:
/// neither side may fail with SQLITE_BUSY (the server answered 500 "database is locked"
/// when its transactions started deferred).
#[tokio::test]
async fn account_commands_and_server_writes_do_not_collide() {
    let s = Server::start(&["--task-delay", "0s", "--quota", "disk=100000"]).await;
    let data_dir = s.data_dir();
    let cli = std::thread::spawn(move || {
        let run = |args: &[&str]| {
            let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
                .arg("account")
                .args(args)
                .arg("--data-dir")
                .arg(&data_dir)
                .output()
                .expect("run kiln account");
            assert!(out.status.success(), "kiln account {args:?}: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        for _ in 0..25 {
            let keys = parse_keys(&run(&["create"]));
            run(&["disable", &keys.pin]);
            run(&["rotate-key", &keys.pin]);
        }
    });
    let mut created = 0;
    while !cli.is_finished() {
        let r = s
            .post(
                &path("disks"),
                json!({"diskSpec": disk_spec("busy", 20), "maxCount": 2}),
            )
            .await;
        created += ids(r.ok(), "diskIds").len();
    }
    cli.join().expect("kiln account runs succeeded");
    let r = s.get(&path("disks?pageSize=100")).await;
    assert_eq!(r.ok()["totalCount"], created as i64);
    assert_eq!(list_json(&s).len(), 26);
    assert!(
        !s.log_tail(100_000).contains("database is locked"),
        "{}",
        s.log_tail(30)
    );
}

#[tokio::test]
async fn account_commands_need_an_existing_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    for args in [
        vec!["create"],
        vec!["list"],
        vec!["disable", "kiln-x"],
        vec!["enable", "kiln-x"],
        vec!["rotate-key", "kiln-x"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
            .arg("account")
            .args(&args)
            .arg("--data-dir")
            .arg(&missing)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no Kiln data"),
            "{args:?}: {out:?}"
        );
        assert!(!missing.exists(), "{args:?} created the directory");
    }
}
