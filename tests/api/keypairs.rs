//! Key pairs (vm): createKeypair's private key is one `ssh-keygen` reads and its fingerprint
//! is the one `ssh-keygen -l -E md5` prints; importKeypair takes OpenSSH public keys and
//! refuses anything else; names, duplicates, quota and 404s as JD words them; attach and
//! detach record the key on the instance (describeInstance `keyNames`, describeKeypairs
//! `instanceIds`); a key pair never leaves its account.

use std::path::Path;
use std::process::Command;

use reqwest::Method;
use serde_json::{json, Value};

use crate::accounts::{create_account, Tenant};
use crate::harness::*;

fn keypairs() -> String {
    path("keypairs")
}

fn keypair_path(name: &str) -> String {
    path(&format!("keypairs/{name}"))
}

/// `…/keypairs/{name}:{action}` (attach, detach).
fn keypair_action(name: &str, action: &str) -> String {
    path(&format!("keypairs/{name}:{action}"))
}

/// ssh-keygen, when the machine has it (the tests that need it say when they skip).
fn ssh_keygen() -> Option<&'static str> {
    // `-?` prints the usage (and fails); only a missing program is an error to spawn.
    let found = Command::new("ssh-keygen").arg("-?").output().is_ok();
    found.then_some("ssh-keygen")
}

#[track_caller]
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The `MD5:` fingerprint `ssh-keygen -l -E md5` prints for a public key file.
fn keygen_md5(keygen: &str, public_key_file: &Path) -> String {
    let line = run(Command::new(keygen)
        .args(["-l", "-E", "md5", "-f"])
        .arg(public_key_file));
    let fp = line
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.strip_prefix("MD5:"))
        .unwrap_or_else(|| panic!("no MD5 fingerprint in {line:?}"));
    fp.to_string()
}

/// A fresh key of `kind` made by ssh-keygen: (public key line, its MD5 fingerprint).
fn keygen_public_key(keygen: &str, dir: &Path, kind: &str) -> (String, String) {
    let file = dir.join(format!("id_{kind}"));
    run(Command::new(keygen)
        .args(["-q", "-t", kind, "-N", "", "-C", "me@host", "-f"])
        .arg(&file));
    let pub_file = file.with_extension("pub");
    let line = std::fs::read_to_string(&pub_file).expect("public key");
    (line.trim().to_string(), keygen_md5(keygen, &pub_file))
}

fn names(list: &Value) -> Vec<String> {
    list["keypairs"]
        .as_array()
        .expect("keypairs")
        .iter()
        .map(|k| k["keyName"].as_str().expect("keyName").to_string())
        .collect()
}

#[tokio::test]
async fn create_answers_a_private_key_that_ssh_keygen_reads_and_keeps_only_the_public() {
    let s = Server::start(&[]).await;
    let r = s.post(&keypairs(), json!({"keyName": "made-1"})).await;
    let made = r.ok().clone();
    assert_eq!(made["keyName"], "made-1");
    let pem = made["privateKey"].as_str().expect("privateKey");
    assert!(
        pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
        "{pem}"
    );
    let fp = made["keyFingerprint"].as_str().expect("fingerprint");
    assert_eq!(fp.len(), 47, "{fp}");

    let listed = s.get(&keypairs()).await.ok().clone();
    assert_eq!(listed["totalCount"], 1);
    let k = &listed["keypairs"][0];
    assert_eq!(k["keyName"], "made-1");
    assert_eq!(k["keyFingerprint"], fp);
    assert_eq!(k["instanceIds"], json!([]));
    let created = k["createTime"].as_str().unwrap();
    assert!(
        created.len() == 19 && created.as_bytes()[10] == b' ',
        "{created}"
    );

    // The private key is in no file of the data directory (SQLite keeps it all there).
    if s.database().is_none() {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        for f in std::fs::read_dir(s.data_dir()).unwrap() {
            let f = f.unwrap().path();
            if f.is_file() {
                let bytes = std::fs::read(&f).unwrap();
                let text = String::from_utf8_lossy(&bytes);
                assert!(!text.contains("PRIVATE KEY"), "{f:?}");
                assert!(!text.contains(&body[..40]), "{f:?} holds the private key");
            }
        }
    }

    let Some(keygen) = ssh_keygen() else {
        eprintln!("SKIPPED the ssh-keygen half: no ssh-keygen on this machine");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("made-1.pem");
    std::fs::write(&key_file, pem).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let public = run(Command::new(keygen).arg("-y").arg("-f").arg(&key_file));
    assert!(public.starts_with("ssh-rsa AAAA"), "{public}");
    let pub_file = dir.path().join("made-1.pub");
    std::fs::write(&pub_file, &public).unwrap();
    assert_eq!(keygen_md5(keygen, &pub_file), fp);
    let bits = run(Command::new(keygen).arg("-l").arg("-f").arg(&pub_file));
    assert!(bits.starts_with("2048 "), "{bits}");
}

#[tokio::test]
async fn import_takes_openssh_keys_with_ssh_keygens_fingerprint_and_refuses_garbage() {
    let s = Server::start(&[]).await;
    if let Some(keygen) = ssh_keygen() {
        let dir = tempfile::tempdir().unwrap();
        for kind in ["rsa", "ed25519", "ecdsa"] {
            let (line, fp) = keygen_public_key(keygen, dir.path(), kind);
            let name = format!("imported-{kind}");
            let r = s
                .post(
                    &path("keypairs:import"),
                    json!({"keyName": name, "publicKey": format!("{line}\n")}),
                )
                .await;
            assert_eq!(
                r.ok(),
                &json!({"keyName": name, "keyFingerprint": fp}),
                "{kind}"
            );
        }
    } else {
        eprintln!("SKIPPED the ssh-keygen keys: no ssh-keygen on this machine");
    }
    // A key line as Terraform's own acceptance test imports it.
    const TF_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAABJQAAAQEAm3c0aR7zI0Xkrm1MD3zDrazC+fR+DV6p/xdzQJWviqPSFGfsatptY3Bc6gYF/qY+Jjccmrm6SKrtW0xPicCw5/uGAuIyhzBnG1Ix0fITdJkeBzyBpxdu/oxnJuvu5P8BLfoFH80ovUqysnttC/7hHBp+uIctkt/g14Kqd7kuPc0Gp4cx7tntNWpmzHJI9i+ayF95nJyFGIjF/s57b9pcKnnv2LXkMDNxsnzgWwPpi2hqGpQSz//ji8GgSED08u34zSjVbPc0TYJy4GO+uD8hozGnf9Evlpqx4OSB0D+4AuRcIniPgCOotYpOdp3Lj7CQRwzkiFZ6YpOxj1qMD4fnjQ== rsa-key-jddevelop";
    let r = s
        .post(
            &path("keypairs%3Aimport"),
            json!({"keyName": "JDCLODU-123312FMK", "publicKey": TF_KEY}),
        )
        .await;
    assert_eq!(r.ok()["keyName"], "JDCLODU-123312FMK");

    for bad in [
        "hello",
        "ssh-rsa",
        "ssh-rsa AAAA",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
        "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
    ] {
        let r = s
            .post(
                &path("keypairs:import"),
                json!({"keyName": "bad", "publicKey": bad}),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.body["error"]["status"], "FAILED_PRECONDITION", "{bad}");
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(msg.starts_with("Malformed PublicKey '"), "{msg}");
    }
    s.post(&path("keypairs:import"), json!({"keyName": "bad"}))
        .await
        .err(400, "INVALID_ARGUMENT", "Parameter publicKey missing");
    // Nothing refused was kept.
    let all = s.get(&keypairs()).await;
    assert!(!names(all.ok()).contains(&"bad".to_string()));
}

#[tokio::test]
async fn names_duplicates_filters_and_not_found_as_jd_words_them() {
    let s = Server::start(&[]).await;
    let longest = "x".repeat(32);
    let too_long = "x".repeat(33);
    for name in ["a", "key_2", "k-3", longest.as_str()] {
        s.post(&keypairs(), json!({"keyName": name})).await.ok();
    }
    for bad in ["", "has space", "dot.ted", "密钥", too_long.as_str()] {
        let r = s.post(&keypairs(), json!({"keyName": bad})).await;
        assert_eq!(r.status, 400, "{bad:?}");
        assert_eq!(r.body["error"]["status"], "INVALID_ARGUMENT");
    }
    s.post(&keypairs(), json!({}))
        .await
        .err(400, "INVALID_ARGUMENT", "Parameter keyName missing");
    s.post(&keypairs(), json!({"keyName": "a"})).await.err(
        400,
        "FAILED_PRECONDITION",
        "KeyName 'a' already in use",
    );
    let ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti x";
    s.post(
        &path("keypairs:import"),
        json!({"keyName": "key_2", "publicKey": ed}),
    )
    .await
    .err(400, "FAILED_PRECONDITION", "KeyName 'key_2' already in use");

    // Oldest first; the filter is exact and takes several names.
    let all = s.get(&keypairs()).await;
    assert_eq!(
        names(all.ok()),
        ["a", "key_2", "k-3", longest.as_str()].map(String::from)
    );
    let some = s
        .get(&format!(
            "{}?filters.1.name=keyNames&filters.1.values.1=k-3&filters.1.values.2=a&filters.1.values.3=key",
            keypairs()
        ))
        .await;
    assert_eq!(some.ok()["totalCount"], 2);
    assert_eq!(names(some.ok()), ["a", "k-3"]);
    let page = s
        .get(&format!("{}?pageNumber=2&pageSize=10", keypairs()))
        .await;
    assert_eq!(page.ok()["totalCount"], 4);
    assert_eq!(page.ok()["keypairs"], json!([]));
    s.get(&format!("{}?pageSize=101", keypairs())).await.err(
        400,
        "OUT_OF_RANGE",
        "PageSize out of range",
    );

    s.delete(&keypair_path("nope"))
        .await
        .err(404, "NOT_FOUND", "Keypair 'nope' not found");
    s.delete(&keypair_path("a")).await.ok();
    s.delete(&keypair_path("a"))
        .await
        .err(404, "NOT_FOUND", "Keypair 'a' not found");
    // A deleted name is free again.
    s.post(&keypairs(), json!({"keyName": "a"})).await.ok();
}

#[tokio::test]
async fn quota_is_per_account_and_region_and_describe_quotas_counts_it() {
    let s = Server::start(&["--quota", "keypair=2"]).await;
    s.post(&keypairs(), json!({"keyName": "one"})).await.ok();
    s.post(&keypairs(), json!({"keyName": "two"})).await.ok();
    s.post(&keypairs(), json!({"keyName": "three"})).await.err(
        429,
        "QUOTA_EXCEEDED",
        "Keypair quota limit exceeded",
    );
    let q = s
        .get(&format!(
            "{}?filters.1.name=resourceTypes&filters.1.values.1=keypair",
            path("quotas")
        ))
        .await;
    assert_eq!(
        q.ok()["quotas"],
        json!([{"resourceType": "keypair", "limit": 2, "used": 2}])
    );
    // Another region has its own.
    let r = s
        .post(
            "/v1/regions/cn-east-2/keypairs",
            json!({"keyName": "three"}),
        )
        .await;
    r.ok();
    s.delete(&keypair_path("one")).await.ok();
    s.post(&keypairs(), json!({"keyName": "three"})).await.ok();
}

#[tokio::test]
async fn a_key_pair_never_leaves_its_account() {
    let s = Server::start(&[]).await;
    let b = Tenant::new(&s, create_account(&s, "tenant-b"));
    let mine = s.post(&keypairs(), json!({"keyName": "shared-name"})).await;
    let theirs = b.post(&keypairs(), json!({"keyName": "shared-name"})).await;
    assert_ne!(
        mine.ok()["keyFingerprint"],
        theirs.ok()["keyFingerprint"],
        "two accounts, two keys"
    );
    b.post(&keypairs(), json!({"keyName": "only-b"})).await.ok();
    assert_eq!(
        names(s.get(&keypairs()).await.ok()),
        ["shared-name".to_string()]
    );
    s.delete(&keypair_path("only-b"))
        .await
        .err(404, "NOT_FOUND", "Keypair 'only-b' not found");
    let id = s.launch(instance_spec("kp-iso")).await;
    s.post(
        &keypair_action("only-b", "attach"),
        json!({"instanceIds": [id], "passWordAuth": "yes"}),
    )
    .await
    .err(404, "NOT_FOUND", "Keypair 'only-b' not found");
    // b cannot give its key to a's instance either.
    b.post(
        &keypair_action("only-b", "attach"),
        json!({"instanceIds": [id]}),
    )
    .await
    .err(404, "NOT_FOUND", &format!("Instance '{id}' not found."));
    // Deleting a's key leaves b's of the same name.
    s.delete(&keypair_path("shared-name")).await.ok();
    let left = b.get(&keypairs()).await;
    assert_eq!(
        names(left.ok()),
        ["shared-name", "only-b"].map(String::from)
    );
    b.send(Method::DELETE, &keypair_path("shared-name"), None)
        .await
        .ok();
}

#[tokio::test]
async fn attach_and_detach_record_the_key_on_linux_instances() {
    let s = Server::start(&[]).await;
    for name in ["k1", "k2"] {
        s.post(&keypairs(), json!({"keyName": name})).await.ok();
    }
    let a = s.launch(instance_spec("kp-a")).await;
    let b = s.launch(instance_spec("kp-b")).await;
    let key_names = |v: &Value| v["instance"]["keyNames"].clone();
    assert_eq!(key_names(s.get(&instance_path(&a)).await.ok()), json!([]));

    let r = s
        .post(
            &keypair_action("k1", "attach"),
            json!({"regionId": REGION, "keyName": "k1", "instanceIds": [a, b, a], "passWordAuth": "no"}),
        )
        .await;
    assert_eq!(
        r.ok(),
        &json!({"successInstanceId": [a, b], "failInstanceId": []})
    );
    assert_eq!(
        key_names(s.get(&instance_path(&a)).await.ok()),
        json!(["k1"])
    );
    let listed = s
        .get(&format!(
            "{}?filters.1.name=keyNames&filters.1.values.1=k1",
            keypairs()
        ))
        .await;
    assert_eq!(listed.ok()["keypairs"][0]["instanceIds"], json!([a, b]));

    // One key per instance; refusals change nothing.
    s.post(&keypair_action("k2", "attach"), json!({"instanceIds": [a]}))
        .await
        .err(
            400,
            "FAILED_PRECONDITION",
            &format!("Already attached key pair. instance id {a}"),
        );
    s.post(&keypair_action("k1", "attach"), json!({"instanceIds": [a]}))
        .await
        .err(
            400,
            "FAILED_PRECONDITION",
            &format!("Already attached key pair. instance id {a}"),
        );
    s.post(&keypair_action("k2", "detach"), json!({"instanceIds": [a]}))
        .await
        .err(
            400,
            "FAILED_PRECONDITION",
            &format!("Already attached other keypair. instance id {a}"),
        );
    s.post(
        &keypair_action("k1", "attach"),
        json!({"instanceIds": [a], "passWordAuth": "maybe"}),
    )
    .await
    .err(
        400,
        "INVALID_ARGUMENT",
        "Invalid passWordAuth 'maybe': yes or no",
    );
    s.post(&keypair_action("k1", "attach"), json!({"instanceIds": []}))
        .await
        .err(400, "INVALID_ARGUMENT", "Parameter instanceIds missing");
    s.post(
        &keypair_action("k1", "attach"),
        json!({"instanceIds": ["i-nothere"]}),
    )
    .await
    .err(404, "NOT_FOUND", "Instance 'i-nothere' not found.");
    s.post(
        &keypair_action("nope", "detach"),
        json!({"instanceIds": [a]}),
    )
    .await
    .err(404, "NOT_FOUND", "Keypair 'nope' not found");

    // Detach from one; a stopped instance takes a key too.
    let r = s
        .post(&keypair_action("k1", "detach"), json!({"instanceIds": [b]}))
        .await;
    assert_eq!(
        r.ok(),
        &json!({"successInstanceId": [b], "failInstanceId": []})
    );
    assert_eq!(key_names(s.get(&instance_path(&b)).await.ok()), json!([]));
    s.post(&action_path(&b, "stopInstance"), json!({}))
        .await
        .ok();
    s.wait_instance(&b, "stopped").await;
    s.post(&keypair_action("k2", "attach"), json!({"instanceIds": [b]}))
        .await
        .ok();
    assert_eq!(
        key_names(s.get(&instance_path(&b)).await.ok()),
        json!(["k2"])
    );

    // Deleting k1 takes it off a, which may then be given another key.
    s.delete(&keypair_path("k1")).await.ok();
    assert_eq!(key_names(s.get(&instance_path(&a)).await.ok()), json!([]));
    s.post(&keypair_action("k2", "attach"), json!({"instanceIds": [a]}))
        .await
        .ok();
    let listed = s.get(&keypairs()).await;
    assert_eq!(listed.ok()["keypairs"][0]["instanceIds"], json!([a, b]));

    // A deleted instance leaves the list.
    s.delete(&instance_path(&a)).await.ok();
    s.wait_gone(&instance_path(&a)).await;
    let listed = s.get(&keypairs()).await;
    assert_eq!(listed.ok()["keypairs"][0]["instanceIds"], json!([b]));
}

#[tokio::test]
async fn windows_instances_take_no_key() {
    let s = Server::start(&[]).await;
    s.post(&keypairs(), json!({"keyName": "k"})).await.ok();
    let win = s
        .launch(
            json!({"az": AZ, "instanceType": "g.n2.large", "imageId": "img-winsrv2019",
                       "name": "kp-win"}),
        )
        .await;
    for action in ["attach", "detach"] {
        s.post(&keypair_action("k", action), json!({"instanceIds": [win]}))
            .await
            .err(
                400,
                "FAILED_PRECONDITION",
                "Windows OS doesn't support attach keypair.",
            );
    }
}

#[tokio::test]
async fn the_keypair_commands() {
    use crate::cli::Env;
    let s = Server::start(&[]).await;
    let env = Env::for_server(&s);
    let pem_file = env.home.path().join("deploy.pem");
    let pem = pem_file.to_str().unwrap();
    let made = env.kiln(&["keypair", "create", "deploy", "--private-key-file", pem]);
    made.ok();
    assert!(
        made.stdout.starts_with("Created key pair deploy ("),
        "{made:?}"
    );
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(&pem_file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&pem_file).unwrap();
    assert!(text.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    // An existing file is not overwritten, and no key is made for it.
    env.kiln(&["keypair", "create", "second", "--private-key-file", pem])
        .code(2);
    assert_eq!(std::fs::read_to_string(&pem_file).unwrap(), text);

    let shown = env.kiln(&["keypair", "create", "--key-name", "on-stdout"]);
    shown.ok();
    assert!(shown.stdout.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(shown.stderr.contains("shown only this once"), "{shown:?}");

    let ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti me";
    let pub_file = env.home.path().join("laptop.pub");
    std::fs::write(&pub_file, format!("{ed}\n")).unwrap();
    let imported = env.kiln(&[
        "keypair",
        "import",
        "laptop",
        "--public-key-file",
        pub_file.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(imported.ok().id(), "laptop");
    env.kiln(&["keypair", "import", "junk", "--public-key", "nope"])
        .code(4);

    let listed = env.kiln(&["keypair", "list", "-o", "json"]);
    assert_eq!(listed.ok().json()["totalCount"], 3);

    let id = s.launch(instance_spec("kp-cli")).await;
    let attached = env.kiln(&[
        "keypair",
        "attach",
        "deploy",
        &id,
        "--password-auth",
        "no",
        "-q",
    ]);
    assert_eq!(attached.ok().id(), id);
    let table = env.kiln(&["keypair", "list", "--name", "deploy"]);
    assert!(table.ok().stdout.contains(&id), "{table:?}");
    env.kiln(&["keypair", "detach", "deploy", &id]).ok();
    env.kiln(&["keypair", "delete", "on-stdout"]).ok();
    env.kiln(&["keypair", "delete", "on-stdout"]).code(3);
    let left = env.kiln(&["keypair", "list", "-q"]);
    assert_eq!(left.ok().lines(), ["deploy", "laptop"]);
}
