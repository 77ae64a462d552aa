//! The client subcommands (`kiln instance|image|disk|snapshot|quota|completions` and the
//! vpc service's `kiln vpc|subnet|security-group|eip`), run as the built binary against a
//! real server: every subcommand, `--wait` on and off a terminal, JSON output parsed back,
//! exit codes, configuration precedence (flags, env, a `jdc` profile in a temporary HOME,
//! `<data-dir>/credentials`), and the three commands of `kiln --help`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// One run of the binary.
#[derive(Debug)]
pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub(crate) fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }
    #[track_caller]
    pub(crate) fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "expected exit code {code}: {self:#?}");
        self
    }
    #[track_caller]
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
    /// The single id `-q` printed.
    #[track_caller]
    pub(crate) fn id(&self) -> String {
        let lines = self.lines();
        assert_eq!(lines.len(), 1, "expected one id: {self:#?}");
        lines[0].clone()
    }
    pub(crate) fn lines(&self) -> Vec<String> {
        self.stdout.lines().map(str::to_string).collect()
    }
}

/// Where and how a command runs: the environment is exactly `env` plus PATH and HOME
/// (no inherited KILN_* or real ~/.jdc).
pub(crate) struct Env {
    pub home: tempfile::TempDir,
    vars: Vec<(String, String)>,
    cwd: Option<PathBuf>,
}

impl Env {
    pub(crate) fn new() -> Env {
        Env {
            home: tempfile::Builder::new()
                .prefix("kiln-cli-home-")
                .tempdir()
                .expect("temp HOME"),
            vars: Vec::new(),
            cwd: None,
        }
    }

    /// Endpoint and keys of `s` in the environment.
    pub(crate) fn for_server(s: &Server) -> Env {
        let mut e = Env::new();
        e.set("KILN_ENDPOINT", &format!("http://127.0.0.1:{}", s.port()));
        e.set("KILN_ACCESS_KEY", &s.access_key);
        e.set("KILN_SECRET_KEY", &s.secret_key);
        e
    }

    pub(crate) fn set(&mut self, k: &str, v: &str) {
        self.vars.retain(|(x, _)| x != k);
        self.vars.push((k.into(), v.into()));
    }

    pub(crate) fn unset(&mut self, k: &str) {
        self.vars.retain(|(x, _)| x != k);
    }

    /// Writes `~/.jdc/config` and (if given) `~/.jdc/current`, as `jdc configure` does.
    pub(crate) fn jdc(&self, config: &str, current: Option<&str>) {
        let dir = self.home.path().join(".jdc");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config"), config).unwrap();
        if let Some(c) = current {
            std::fs::write(dir.join("current"), c).unwrap();
        }
    }

    pub(crate) fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", path_with_kiln())
            .env("HOME", self.home.path())
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null());
        cmd.current_dir(self.cwd.as_deref().unwrap_or(self.home.path()));
        cmd
    }

    /// `kiln ARGS`, bounded in time.
    pub(crate) fn kiln(&self, args: &[&str]) -> Run {
        let mut cmd = self.command(env!("CARGO_BIN_EXE_kiln"));
        cmd.args(args);
        run_bounded(cmd, &format!("kiln {}", args.join(" ")))
    }

    /// A script under bash (`set -euo pipefail`), with `kiln` on PATH.
    pub(crate) fn bash(&self, script: &str) -> Run {
        let mut cmd = self.command("bash");
        cmd.arg("-c").arg(format!("set -euo pipefail\n{script}"));
        run_bounded(cmd, script)
    }
}

fn path_with_kiln() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_kiln")).parent().unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    )
}

fn run_bounded(mut cmd: Command, what: &str) -> Run {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after 60s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// `requestId` of an error line `STATUS: message (requestId …)`.
#[track_caller]
fn assert_error_line(r: &Run, status: &str, message: &str) {
    let line = r.stderr.trim_end();
    let prefix = format!("{status}: {message} (requestId ");
    assert!(
        line.starts_with(&prefix) && line.ends_with(')'),
        "stderr is not `{prefix}…)`: {r:#?}"
    );
    let rid = &line[prefix.len()..line.len() - 1];
    assert!(
        rid.len() == 32 && rid.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{rid:?}"
    );
    assert!(r.stdout.is_empty(), "{r:#?}");
}

/// The devices of the instance's data disks, those recently detached left out.
fn devices(v: &Value) -> Vec<String> {
    v["dataDisks"]
        .as_array()
        .unwrap_or_else(|| panic!("no dataDisks: {v}"))
        .iter()
        .filter(|d| d["status"] != "detached")
        .map(|d| d["deviceName"].as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------

#[tokio::test]
async fn three_commands_from_help_bake_and_launch() {
    // As a new user: `kiln serve` made ./kiln-data (credentials inside) in this directory,
    // no keys in the environment, no jdc profile. Only the endpoint differs (a free port).
    let s = Server::start_without_keys(&[]).await;
    let mut env = Env::new();
    let cwd = env.home.path().join("work");
    std::fs::create_dir_all(&cwd).unwrap();
    std::os::unix::fs::symlink(s.data_dir(), cwd.join("kiln-data")).unwrap();
    env.cwd = Some(cwd);
    env.set("KILN_ENDPOINT", &format!("127.0.0.1:{}", s.port()));

    let help = env.kiln(&["--help"]);
    help.ok();
    let lines: Vec<&str> = help
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Bake an image and launch from it"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(lines.len(), 3, "{}", help.stdout);
    assert!(help.stdout.contains("Exit codes: 0 ok"), "{}", help.stdout);
    let r = env.bash(&format!("{}\necho \"$IMG\"", lines.join("\n")));
    r.ok();
    let out = r.lines();
    let img = out.last().unwrap().clone();
    assert!(img.starts_with("img-"), "{r:#?}");
    assert!(r.stdout.contains("running ("), "{r:#?}");

    let image = s.get(&path(&format!("images/{img}"))).await.ok()["image"].clone();
    assert_eq!(image["status"], "ready");
    assert_eq!(image["rootDeviceType"], "cloudDisk");
    assert_eq!(devices(&image), ["vdb"]);
    let list = s.get(&path("instances")).await.ok().clone();
    let web = list["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["instanceName"] == "web")
        .expect("instance web")
        .clone();
    assert_eq!(web["status"], "running");
    assert_eq!(web["imageId"], img.as_str());
    assert_eq!(devices(&web), ["vdb"]);
}

#[tokio::test]
async fn instances_disks_snapshots_and_quotas() {
    let s = Server::start(&[]).await;
    let env = Env::for_server(&s);

    // instance create / list / show
    let id = env
        .kiln(&[
            "instance",
            "create",
            "--image",
            IMAGE,
            "--name",
            "cli-one",
            "--system-disk",
            "cloud:ssd.gp1:40",
            "--disk",
            "vdb=20",
            "--wait",
            "-q",
        ])
        .ok()
        .id();
    let inst = s.instance(&id).await;
    assert_eq!(inst["status"], "running");
    assert_eq!(inst["systemDisk"]["diskCategory"], "cloud");
    assert_eq!(devices(&inst), ["vdb"]);

    let list = env.kiln(&["instance", "list", "-o", "json"]).ok().json();
    assert_eq!(list["totalCount"], 1, "{list}");
    assert_eq!(list["instances"][0]["instanceId"], id.as_str());
    let table = env
        .kiln(&["instance", "list", "--status", "running"])
        .ok()
        .stdout
        .clone();
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains(&id) && table.contains("cli-one"), "{table}");
    let none = env.kiln(&["instance", "list", "--status", "stopped", "-q"]);
    assert_eq!(none.ok().stdout, "");
    assert_eq!(env.kiln(&["instance", "list", "-q"]).ok().id(), id);

    let shown = env
        .kiln(&["instance", "show", &id, "-o", "json"])
        .ok()
        .json();
    let api = s.get(&instance_path(&id)).await.ok().clone();
    assert_eq!(shown, api, "--output json is the JD result object");
    let table = env.kiln(&["instance", "show", &id]).ok().stdout.clone();
    assert!(
        table.contains("Status:") && table.contains("running"),
        "{table}"
    );
    assert!(table.contains("vdb") && table.contains("DEVICE"), "{table}");

    // stop / start / reboot
    let r = env.kiln(&["instance", "stop", &id, "--wait"]);
    assert!(
        r.ok().stdout.contains(&format!("instance {id} stopped (")),
        "{r:#?}"
    );
    assert_eq!(s.instance(&id).await["status"], "stopped");
    env.kiln(&["instance", "start", &id, "--wait"]).ok();
    assert_eq!(s.instance(&id).await["status"], "running");
    let r = env.kiln(&["instance", "reboot", &id, "--wait", "-o", "json"]);
    assert_eq!(r.ok().json(), serde_json::json!({}));
    assert_eq!(s.instance(&id).await["status"], "running");

    // disk create / list / show; attach / detach
    let disk = env
        .kiln(&[
            "disk", "create", "--name", "data", "--size", "30", "--wait", "-q",
        ])
        .ok()
        .id();
    assert_eq!(s.disk(&disk).await["status"], "available");
    assert_eq!(s.disk(&disk).await["diskSizeGB"], 30);
    let dl = env
        .kiln(&["disk", "list", "--status", "available", "-o", "json"])
        .ok()
        .json();
    assert_eq!(dl["totalCount"], 1, "{dl}");
    assert_eq!(dl["disks"][0]["diskId"], disk.as_str());
    let ds = env.kiln(&["disk", "show", &disk, "-o", "json"]).ok().json();
    assert_eq!(ds["disk"]["name"], "data");
    assert!(env
        .kiln(&["disk", "show", &disk])
        .ok()
        .stdout
        .contains("30G"));

    env.kiln(&[
        "instance",
        "attach-disk",
        &id,
        &disk,
        "--device",
        "vdd",
        "--wait",
    ])
    .ok();
    let inst = s.instance(&id).await;
    assert_eq!(devices(&inst), ["vdb", "vdd"]);
    assert_eq!(s.disk(&disk).await["status"], "in-use");
    let attached = env
        .kiln(&["disk", "list", "--instance", &id, "-q"])
        .ok()
        .lines();
    assert!(attached.contains(&disk), "{attached:?}");
    env.kiln(&["instance", "detach-disk", &id, &disk, "--wait"])
        .ok();
    assert_eq!(s.disk(&disk).await["status"], "available");
    assert_eq!(devices(&s.instance(&id).await), ["vdb"]);

    // snapshot create / list / show; a disk from it; deletes
    let snap = env
        .kiln(&["snapshot", "create", &disk, "--name", "s1", "--wait", "-q"])
        .ok()
        .id();
    assert!(snap.starts_with("snapshot-"), "{snap}");
    assert_eq!(
        env.kiln(&["snapshot", "list", "--disk", &disk, "-q"])
            .ok()
            .id(),
        snap
    );
    let ss = env
        .kiln(&["snapshot", "show", &snap, "-o", "json"])
        .ok()
        .json();
    assert_eq!(ss["snapshot"]["status"], "available");
    assert_eq!(ss["snapshot"]["diskId"], disk.as_str());
    let restored = env
        .kiln(&[
            "disk",
            "create",
            "--name",
            "restored",
            "--snapshot",
            &snap,
            "--wait",
            "-q",
        ])
        .ok()
        .id();
    let rd = s.disk(&restored).await;
    assert_eq!(rd["snapshotId"], snap.as_str());
    assert_eq!(rd["diskSizeGB"], 30);

    // quotas: vm and disk services in one table
    let q = env.kiln(&["quota", "show", "-o", "json"]).ok().json();
    let used = |t: &str| {
        q["quotas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["resourceType"] == t)
            .unwrap_or_else(|| panic!("no {t} quota: {q}"))["used"]
            .clone()
    };
    assert_eq!(used("instance"), 1);
    assert_eq!(used("disk"), 4, "system disk, vdb, data, restored");
    assert_eq!(used("snapshot"), 1);
    let t = env.kiln(&["quota", "show"]).ok().stdout.clone();
    assert!(t.contains("RESOURCE") && t.contains("snapshot"), "{t}");

    env.kiln(&["disk", "delete", &restored, "--wait"]).ok();
    s.wait_gone(&disk_path(&restored)).await;
    env.kiln(&["snapshot", "delete", &snap, "--wait"]).ok();
    assert_eq!(s.get(&snapshot_path(&snap)).await.status, 404);
    let r = env.kiln(&["disk", "delete", &disk, "-q"]);
    assert_eq!(r.ok().id(), disk);
    s.wait_gone(&disk_path(&disk)).await;
    env.kiln(&["instance", "delete", &id, "--wait"]).ok();
    assert_eq!(s.get(&instance_path(&id)).await.status, 404);
}

#[tokio::test]
async fn images_rules_import_export_wait_delete() {
    let s = Server::start(&[]).await;
    let env = Env::for_server(&s);
    let src = env
        .kiln(&[
            "instance",
            "create",
            "--image",
            IMAGE,
            "--name",
            "src",
            "--system-disk",
            "cloud",
            "--disk",
            "vdb=20",
            "--disk",
            "vdc=hdd.std1:50",
            "--wait",
            "-q",
        ])
        .ok()
        .id();
    let inst = s.instance(&src).await;
    let vdb = attached_cloud_disk(&inst, "vdb").unwrap();
    let snap = env
        .kiln(&[
            "snapshot", "create", &vdb, "--name", "forvde", "--wait", "-q",
        ])
        .ok()
        .id();

    // exclude vdc, replace vdb, insert blank vdd and vde from a snapshot
    let vde = format!("vde={snap}");
    let img = env
        .kiln(&[
            "image",
            "create",
            &src,
            "--name",
            "baked",
            "--description",
            "by the cli",
            "--exclude",
            "vdc",
            "--disk",
            "vdb=hdd.std1:40",
            "--disk",
            "vdd=30",
            "--disk",
            &vde,
            "--wait",
            "-q",
        ])
        .ok()
        .id();
    let image = s.get(&path(&format!("images/{img}"))).await.ok()["image"].clone();
    assert_eq!(image["status"], "ready");
    assert_eq!(image["desc"], "by the cli");
    assert_eq!(devices(&image), ["vdb", "vdd", "vde"], "{image}");
    let dd = |dev: &str| {
        image["dataDisks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["deviceName"] == dev)
            .unwrap()["cloudDisk"]
            .clone()
    };
    assert_eq!(dd("vdb")["diskType"], "hdd.std1");
    assert_eq!(dd("vdb")["diskSizeGB"], 40);
    assert_eq!(dd("vdd")["diskSizeGB"], 30);
    assert_eq!(dd("vde")["snapshotId"], snap.as_str());

    // list / show / wait
    let il = env.kiln(&["image", "list", "-o", "json"]).ok().json();
    assert_eq!(il["totalCount"], 1, "{il}");
    assert_eq!(il["images"][0]["imageId"], img.as_str());
    let public = env
        .kiln(&["image", "list", "--source", "public", "-q"])
        .ok()
        .lines();
    assert!(public.contains(&IMAGE.to_string()), "{public:?}");
    let shown = env.kiln(&["image", "show", &img]).ok().stdout.clone();
    assert!(shown.contains("baked") && shown.contains("vde"), "{shown}");
    let w = env.kiln(&["image", "wait", &img]);
    assert!(
        w.ok().stdout.contains(&format!("image {img} ready (")),
        "{w:#?}"
    );
    let w = env.kiln(&["image", "wait", &img, "-o", "json"]).ok().json();
    assert_eq!(w["image"]["imageId"], img.as_str());

    // launch with one image disk excluded
    let copy = env
        .kiln(&[
            "instance",
            "create",
            "--image",
            &img,
            "--name",
            "copy",
            "--exclude",
            "vdd",
            "--wait",
            "-q",
        ])
        .ok()
        .id();
    assert_eq!(devices(&s.instance(&copy).await), ["vdb", "vde"]);

    // export (waits for the task), import the exported system disk back
    let out = tempfile::tempdir().unwrap();
    let url = format!("file://{}", out.path().display());
    let task = env
        .kiln(&[
            "image",
            "export",
            &img,
            "--oss-url",
            &url,
            "--all-disks",
            "--wait",
            "-q",
        ])
        .ok()
        .id();
    assert!(!task.is_empty());
    let system_file = out.path().join(format!("{img}.qcow2"));
    assert!(system_file.is_file(), "{} missing", system_file.display());
    // vde came from a snapshot; the replaced vdb is blank and has none to export.
    assert!(out.path().join(format!("{img}-vde.qcow2")).is_file());
    let imported = env
        .kiln(&[
            "image",
            "import",
            "--url",
            &format!("file://{}", system_file.display()),
            "--name",
            "imported",
            "--size",
            "40",
            "--wait",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let imp = imported["imageId"].as_str().unwrap().to_string();
    assert!(imported["taskId"].is_string(), "{imported}");
    let i = s.get(&path(&format!("images/{imp}"))).await.ok()["image"].clone();
    assert_eq!(i["status"], "ready");
    assert_eq!(i["imported"], true);

    // delete with --wait, and delete then `image wait --deleted`
    env.kiln(&["image", "delete", &imp, "--wait"]).ok();
    assert_eq!(s.get(&path(&format!("images/{imp}"))).await.status, 404);
    env.kiln(&["image", "delete", &img, "--delete-snapshots", "-q"])
        .ok();
    let w = env.kiln(&["image", "wait", &img, "--deleted"]);
    assert!(
        w.ok().stdout.contains(&format!("image {img} deleted (")),
        "{w:#?}"
    );
}

#[tokio::test]
async fn wait_shows_plain_lines_without_a_terminal_and_a_live_line_on_one() {
    let s = Server::start(&["--transition-delay", "400ms"]).await;
    let env = Env::for_server(&s);
    let id = env
        .kiln(&[
            "instance", "create", "--image", IMAGE, "--name", "waiter", "--wait",
        ])
        .ok()
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Creating instance "))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .expect("a `Creating instance` line");

    // Pipes: plain status lines on stderr, no escape codes; the summary on stdout.
    let r = env.kiln(&["instance", "stop", &id, "--wait"]);
    r.ok();
    assert!(
        r.stderr.contains(&format!("instance {id}: stopping (")),
        "{r:#?}"
    );
    assert!(
        !r.stderr.contains('\x1b') && !r.stderr.contains('\r'),
        "{r:#?}"
    );
    assert_eq!(
        r.stdout
            .lines()
            .last()
            .map(|l| l.starts_with(&format!("instance {id} stopped ("))),
        Some(true),
        "{r:#?}"
    );
    // --quiet: only the id on stdout, the summary on stderr.
    let r = env.kiln(&["instance", "start", &id, "--wait", "-q"]);
    assert_eq!(r.ok().id(), id);
    assert!(
        r.stderr.contains(&format!("instance {id} running (")),
        "{r:#?}"
    );

    // Forced terminal mode: a redrawn line (CR, erase-line, spinner, elapsed), then ✓.
    let r = env.kiln(&["instance", "stop", &id, "--wait", "--progress", "always"]);
    r.ok();
    assert!(r.stderr.contains("\r\x1b[2K"), "{r:#?}");
    assert!(
        r.stderr.contains(&format!("⠋ instance {id}: stopping · ")),
        "{r:#?}"
    );
    assert!(
        r.stdout.contains(&format!("✓ instance {id} stopped (")),
        "{r:#?}"
    );

    // A real pseudo-terminal (util-linux `script`), when there is one.
    if Command::new("script").arg("--version").output().is_ok() {
        let cmd = format!("{} instance start {id} --wait", env!("CARGO_BIN_EXE_kiln"));
        let r = env.bash(&format!("script -qec '{cmd}' /dev/null"));
        r.ok();
        assert!(r.stdout.contains("\r\x1b[2K"), "{r:#?}");
        assert!(
            r.stdout.contains(&format!("instance {id}: starting · ")),
            "{r:#?}"
        );
        assert!(
            r.stdout.contains(&format!("✓ instance {id} running (")),
            "{r:#?}"
        );
    } else {
        eprintln!("no `script`: pseudo-terminal run skipped (forced mode checked above)");
    }
}

#[tokio::test]
async fn errors_print_the_jd_status_and_exit_by_kind() {
    let s = Server::start(&["--quota", "disk=1"]).await;
    let env = Env::for_server(&s);

    // 3 not found
    let r = env.kiln(&["instance", "show", "i-nope"]);
    r.code(3);
    assert_error_line(&r, "NOT_FOUND", "Instance 'i-nope' not found.");
    env.kiln(&["image", "delete", "img-nope"]).code(3);

    // 4 failed precondition / invalid argument
    let r = env.kiln(&["image", "delete", IMAGE]);
    r.code(4);
    assert!(r.stderr.starts_with("FAILED_PRECONDITION: "), "{r:#?}");
    env.kiln(&["disk", "create", "--name", "x", "--type", "floppy"])
        .code(4);

    // 5 quota
    env.kiln(&["disk", "create", "--name", "one", "-q"]).ok();
    let r = env.kiln(&["disk", "create", "--name", "two"]);
    r.code(5);
    assert!(r.stderr.starts_with("QUOTA_EXCEEDED: "), "{r:#?}");

    // 6 authentication: a wrong secret, and no credentials anywhere
    let r = env.kiln(&[
        "instance",
        "list",
        "--secret-key",
        "wrong",
        "--access-key",
        &s.access_key,
    ]);
    r.code(6);
    assert!(r.stderr.starts_with("ACCESS_ERROR: "), "{r:#?}");
    let mut bare = Env::new();
    bare.set("KILN_ENDPOINT", &format!("127.0.0.1:{}", s.port()));
    let r = bare.kiln(&["instance", "list"]);
    r.code(6);
    assert!(r.stderr.starts_with("kiln: no credentials"), "{r:#?}");

    // 2 usage: clap's own, and a bad disk rule
    env.kiln(&["instance", "frobnicate"]).code(2);
    let r = env.kiln(&["image", "create", "i-x", "--name", "n", "--disk", "vda=30"]);
    r.code(2);
    assert!(r.stderr.contains("no data device name"), "{r:#?}");

    // 7 a waited-for resource ends in error: an import whose file does not exist
    let missing = std::env::temp_dir().join("kiln-nonexistent-dir/kiln.qcow2");
    let missing = format!("file://{}", missing.display());
    let r = env.kiln(&[
        "image", "import", "--url", &missing, "--name", "broken", "--size", "40", "--wait",
    ]);
    r.code(7);
    assert!(r.stderr.contains("ended in error"), "{r:#?}");

    // 8 --wait timed out
    let r = env.kiln(&[
        "instance",
        "create",
        "--image",
        IMAGE,
        "--name",
        "slow",
        "--wait",
        "--wait-timeout",
        "1ms",
    ]);
    r.code(8);
    assert!(r.stderr.contains("still"), "{r:#?}");

    // 1 transport: nothing listens there
    let mut dead = Env::for_server(&s);
    dead.set("KILN_ENDPOINT", "http://127.0.0.1:9");
    let r = dead.kiln(&["instance", "list"]);
    r.code(1);
    assert!(r.stderr.starts_with("TRANSPORT: "), "{r:#?}");
}

/// `jdc configure add --profile … --endpoint 127.0.0.1:PORT --scheme http` writes this.
pub(crate) fn jdc_config(profiles: &[(&str, &str, &str, &str)]) -> String {
    let mut s = String::new();
    for (name, endpoint, ak, sk) in profiles {
        s.push_str(&format!(
            "[{name}]\naccess_key = {ak}\nsecret_key = {sk}\nregion_id = cn-north-1\nendpoint = {endpoint}\nscheme = http\ntimeout = 20\n\n"
        ));
    }
    s
}

#[tokio::test]
async fn configuration_flags_env_jdc_profile_then_credentials() {
    let s = Server::start_without_keys(&[]).await;
    let (ak, sk) = (s.access_key.clone(), s.secret_key.clone());
    let good = format!("127.0.0.1:{}", s.port());
    let dead = "127.0.0.1:9";

    // A jdc profile alone (the current one, named in ~/.jdc/current): no new set-up.
    let mut env = Env::new();
    env.jdc(
        &jdc_config(&[
            ("default", "www.jdcloud-api.com", "JDAK", "JDSK"),
            ("kiln", &good, &ak, &sk),
        ]),
        Some("kiln"),
    );
    let r = env.kiln(&["instance", "list", "-v"]);
    r.ok();
    assert!(r.stderr.contains("from jdc profile [kiln]"), "{r:#?}");
    assert!(
        r.stderr.contains(&format!("endpoint http://{good}")),
        "{r:#?}"
    );

    // --profile picks another profile than ~/.jdc/current: default's keys are not Kiln's.
    env.jdc(
        &jdc_config(&[
            ("default", &good, "JDAK", "JDSK"),
            ("kiln", &good, &ak, &sk),
        ]),
        Some("kiln"),
    );
    env.kiln(&["instance", "list", "--profile", "default"])
        .code(6);
    env.kiln(&["instance", "list", "--profile", "missing"])
        .code(2);

    // The environment wins over the profile: keys, then the endpoint.
    env.set("KILN_ACCESS_KEY", &ak);
    env.set("KILN_SECRET_KEY", "wrong");
    env.kiln(&["instance", "list"]).code(6);
    env.set("KILN_SECRET_KEY", &sk);
    env.kiln(&["instance", "list"]).ok();
    env.set("KILN_ENDPOINT", dead);
    env.kiln(&["instance", "list"]).code(1);

    // Flags win over the environment.
    let r = env.kiln(&["instance", "list", "--endpoint", &good, "-v"]);
    r.ok();
    assert!(r.stderr.contains("(from --endpoint)"), "{r:#?}");
    assert!(
        r.stderr.contains("(from KILN_ACCESS_KEY/KILN_SECRET_KEY)"),
        "{r:#?}"
    );
    env.kiln(&[
        "instance",
        "list",
        "--endpoint",
        &good,
        "--access-key",
        &ak,
        "--secret-key",
        "wrong",
    ])
    .code(6);
    env.set("KILN_SECRET_KEY", "wrong");
    env.kiln(&[
        "instance",
        "list",
        "--endpoint",
        &good,
        "--access-key",
        &ak,
        "--secret-key",
        &sk,
    ])
    .ok();
    env.set("KILN_REGION", "cn-east-2");
    let r = env.kiln(&[
        "instance",
        "list",
        "--endpoint",
        &good,
        "--access-key",
        &ak,
        "--secret-key",
        &sk,
        "--region",
        "cn-south-1",
        "-v",
    ]);
    assert!(
        r.ok().stderr.contains("region cn-south-1 (from --region)"),
        "{r:#?}"
    );

    // Last, <data-dir>/credentials of the local server — below a jdc profile's keys.
    let mut local = Env::new();
    local.set("KILN_ENDPOINT", &good);
    let data = s.data_dir();
    let d = data.to_str().unwrap();
    let r = local.kiln(&["instance", "list", "--data-dir", d, "-v"]);
    r.ok();
    assert!(r.stderr.contains("credentials)"), "{r:#?}");
    local.jdc(&jdc_config(&[("default", &good, "JDAK", "JDSK")]), None);
    local.kiln(&["instance", "list", "--data-dir", d]).code(6);
    local.unset("KILN_ENDPOINT");
    // With the profile's endpoint too, and its keys replaced by the env's, it works.
    local.set("KILN_ACCESS_KEY", &ak);
    local.set("KILN_SECRET_KEY", &sk);
    local.kiln(&["instance", "list"]).ok();
}

#[tokio::test]
async fn completions_and_help_examples() {
    let env = Env::new();
    let r = env.kiln(&["completions", "bash"]);
    r.ok();
    assert!(
        r.stdout.contains("_kiln()"),
        "{}",
        &r.stdout[..200.min(r.stdout.len())]
    );
    assert!(r.stdout.contains("attach-disk"));
    for args in [
        vec!["instance", "create"],
        vec!["instance", "attach-disk"],
        vec!["image", "create"],
        vec!["image", "export"],
        vec!["disk", "create"],
        vec!["snapshot", "delete"],
        vec!["quota", "show"],
        vec!["vpc", "create"],
        vec!["subnet", "show"],
        vec!["security-group", "add-rule"],
        vec!["eip", "associate"],
        vec!["instance", "resize"],
        vec!["instance", "set-password"],
    ] {
        let mut a = args.clone();
        a.push("--help");
        let r = env.kiln(&a);
        r.ok();
        assert!(
            r.stdout.contains("Example") && r.stdout.contains(&format!("kiln {}", args.join(" "))),
            "{args:?}: {}",
            r.stdout
        );
    }
}

#[test]
fn demo_runs_on_the_commands() {
    let env = Env::new();
    let r = env.kiln(&["demo"]);
    r.ok();
    assert!(r.stdout.contains("$ kiln image create"), "{r:#?}");
    assert!(
        r.stdout.contains("$ kiln instance create --image img-"),
        "{r:#?}"
    );
    assert!(r.stdout.contains("Verified with qemu-io"), "{r:#?}");
}

#[tokio::test]
async fn image_lifecycle_verbs() {
    let s = Server::start(&[]).await;
    let env = Env::for_server(&s);
    let src = env
        .kiln(&[
            "instance",
            "create",
            "--image",
            IMAGE,
            "--name",
            "lc-src",
            "--system-disk",
            "cloud",
            "--wait",
            "-q",
        ])
        .ok()
        .id();
    let img = env
        .kiln(&["image", "create", &src, "--name", "lc-img", "--wait", "-q"])
        .ok()
        .id();
    env.kiln(&["image", "modify", &img, "--name", "lc-renamed"])
        .ok();
    let shown = env.kiln(&["image", "show", &img, "-o", "json"]).ok().json();
    assert_eq!(shown["image"]["name"], "lc-renamed", "{shown}");

    let other = crate::accounts::create_account(&s, "lc-member");
    env.kiln(&["image", "share", &img, "--pin", &other.pin])
        .ok();
    let members = env.kiln(&["image", "members", &img, "-q"]).ok().lines();
    assert_eq!(members, std::slice::from_ref(&other.pin));
    env.kiln(&["image", "unshare", &img, "--pin", &other.pin])
        .ok();
    assert!(env
        .kiln(&["image", "members", &img, "-q"])
        .ok()
        .lines()
        .is_empty());

    env.kiln(&["image", "release", &img]).ok();
    env.kiln(&["image", "unrelease", &img]).ok();

    let c = env
        .kiln(&["image", "constraints", "img-winsrv2019", "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        c["imageConstraints"][0]["imageInstanceTypeConstraint"]["constraintsType"], "excludes",
        "{c}"
    );

    let copy = env
        .kiln(&[
            "image", "copy", &img, "--to", REGION, "--name", "lc-copy", "--wait", "-q",
        ])
        .ok()
        .id();
    let shown = env
        .kiln(&["image", "show", &copy, "-o", "json"])
        .ok()
        .json();
    assert_eq!(shown["image"]["status"], "ready", "{shown}");
    assert_eq!(shown["image"]["name"], "lc-copy", "{shown}");
    // A convert of a cloudDisk image is refused with JD's message and a non-zero exit.
    let r = env.kiln(&["image", "convert", &img]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("Only support localDisk image"),
        "{}",
        r.stderr
    );
}

/// The `key` of each object in the array `list` of `v`.
fn ids_of(v: &Value, list: &str, key: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list}: {v}"))
        .iter()
        .map(|x| x[key].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn vpc_subnet_security_group_eip_and_instance_changes() {
    let s = Server::start(&[]).await;
    let mut env = Env::for_server(&s);

    // vpc create / list / rename / show
    let vpc = env
        .kiln(&[
            "vpc",
            "create",
            "--name",
            "cli-net",
            "--cidr",
            "192.168.0.0/16",
            "-q",
        ])
        .ok()
        .id();
    assert!(vpc.starts_with("vpc-"), "{vpc}");
    let t = env.kiln(&["vpc", "list"]).ok().stdout.clone();
    assert!(t.starts_with("ID "), "{t}");
    assert!(t.contains(&vpc) && t.contains("192.168.0.0/16"), "{t}");
    let r = env.kiln(&[
        "vpc",
        "rename",
        &vpc,
        "--name",
        "cli-net-2",
        "--description",
        "made by the cli",
    ]);
    assert_eq!(r.ok().stdout, format!("Modified vpc {vpc}\n"));
    let v = env.kiln(&["vpc", "show", &vpc, "-o", "json"]).ok().json();
    assert_eq!(v["vpc"]["vpcName"], "cli-net-2", "{v}");
    assert_eq!(v["vpc"]["description"], "made by the cli", "{v}");
    // Neither a name nor a description: a usage error.
    env.kiln(&["vpc", "rename", &vpc]).code(2);

    // subnet create / show / list, and the errors by kind
    let subnet = env
        .kiln(&[
            "subnet",
            "create",
            "--vpc",
            &vpc,
            "--name",
            "cli-a",
            "--cidr",
            "192.168.0.0/28",
            "-q",
        ])
        .ok()
        .id();
    assert!(subnet.starts_with("subnet-"), "{subnet}");
    let r = env.kiln(&[
        "subnet",
        "create",
        "--vpc",
        &vpc,
        "--name",
        "cli-b",
        "--cidr",
        "192.168.0.0/24",
    ]);
    r.code(4);
    assert!(r.stderr.starts_with("CONFLICT: "), "{r:#?}");
    let r = env.kiln(&["subnet", "show", "subnet-nope"]);
    r.code(3);
    assert_error_line(&r, "NOT_FOUND", "Subnet 'subnet-nope' not found");
    let t = env.kiln(&["subnet", "show", &subnet]).ok().stdout.clone();
    for want in [
        "Available IPs: 12",
        "Start IP:      192.168.0.3",
        "End IP:        192.168.0.14",
        vpc.as_str(),
    ] {
        assert!(t.contains(want), "{want:?} not in\n{t}");
    }
    assert_eq!(
        env.kiln(&["subnet", "list", "--vpc", &vpc, "-q"])
            .ok()
            .lines(),
        std::slice::from_ref(&subnet)
    );
    let v = env.kiln(&["vpc", "show", &vpc]).ok().stdout.clone();
    assert!(v.contains("SUBNET") && v.contains(&subnet), "{v}");

    // security group create / add-rule / show / remove-rule
    let sg = env
        .kiln(&[
            "security-group",
            "create",
            "--vpc",
            &vpc,
            "--name",
            "ssh",
            "-q",
        ])
        .ok()
        .id();
    assert!(sg.starts_with("sg-"), "{sg}");
    let ssh = env
        .kiln(&[
            "security-group",
            "add-rule",
            &sg,
            "--protocol",
            "tcp",
            "--direction",
            "in",
            "--cidr",
            "0.0.0.0/0",
            "--ports",
            "22",
            "-q",
        ])
        .ok()
        .id();
    assert!(ssh.starts_with("sgr-"), "{ssh}");
    let range = env
        .kiln(&[
            "security-group",
            "add-rule",
            &sg,
            "--protocol",
            "udp",
            "--direction",
            "in",
            "--cidr",
            "10.0.0.0/8",
            "--ports",
            "1000-2000",
            "-q",
        ])
        .ok()
        .id();
    assert_ne!(range, ssh);
    for bad in [
        vec!["--protocol", "icmp", "--direction", "in", "--ports", "22"],
        vec!["--protocol", "tcp", "--direction", "in", "--ports", "9-1"],
        vec!["--protocol", "gre", "--direction", "in"],
    ] {
        let mut a = vec![
            "security-group",
            "add-rule",
            sg.as_str(),
            "--cidr",
            "0.0.0.0/0",
        ];
        a.extend(bad.iter().copied());
        env.kiln(&a).code(2);
    }
    let t = env
        .kiln(&["security-group", "show", &sg])
        .ok()
        .stdout
        .clone();
    assert!(t.contains("RULE") && t.contains(&ssh), "{t}");
    let udp_line = t.lines().find(|l| l.starts_with(&range)).expect("udp rule");
    assert!(
        udp_line.contains("udp")
            && udp_line.contains("10.0.0.0/8")
            && udp_line.contains("1000-2000"),
        "{t}"
    );
    let r = env.kiln(&["security-group", "remove-rule", &sg, &range]);
    r.ok();
    let g = env
        .kiln(&["security-group", "show", &sg, "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        ids_of(&g["networkSecurityGroup"], "securityGroupRules", "ruleId"),
        std::slice::from_ref(&ssh)
    );
    let listed = env
        .kiln(&["security-group", "list", "--vpc", &vpc, "-q"])
        .ok()
        .lines();
    assert!(listed.contains(&sg), "{listed:?}");

    // An instance in the subnet, with the group and a new elastic IP; a missing subnet
    // exits 3 and launches nothing.
    let r = env.kiln(&[
        "instance",
        "create",
        "--image",
        IMAGE,
        "--name",
        "cli-nowhere",
        "--subnet",
        "subnet-nope",
    ]);
    r.code(3);
    assert_error_line(&r, "NOT_FOUND", "Subnet 'subnet-nope' not found");
    let id = env
        .kiln(&[
            "instance",
            "create",
            "--image",
            IMAGE,
            "--name",
            "cli-net-vm",
            "--subnet",
            &subnet,
            "--security-group",
            &sg,
            "--eip",
            "2",
            "--password",
            "Kiln-2026-ok",
            "--wait",
            "-q",
        ])
        .ok()
        .id();
    let inst = s.instance(&id).await;
    assert_eq!(inst["subnetId"], subnet.as_str(), "{inst}");
    assert_eq!(inst["vpcId"], vpc.as_str(), "{inst}");
    assert_eq!(inst["privateIpAddress"], "192.168.0.3", "{inst}");
    let first_eip = inst["elasticIpId"].as_str().unwrap().to_string();
    let address = inst["elasticIpAddress"].as_str().unwrap().to_string();
    assert!(first_eip.starts_with("fip-"), "{inst}");
    let port = inst["primaryNetworkInterface"]["networkInterface"]["networkInterfaceId"]
        .as_str()
        .unwrap()
        .to_string();
    let t = env.kiln(&["instance", "show", &id]).ok().stdout.clone();
    for want in [&subnet, &sg, &address, &vpc] {
        assert!(t.contains(want.as_str()), "{want} not in\n{t}");
    }

    // eip create / list / show / associate / disassociate
    let el = env.kiln(&["eip", "list", "-o", "json"]).ok().json();
    assert_eq!(el["totalCount"], 1, "{el}");
    assert_eq!(el["elasticIps"][0]["status"], "ASSOCIATED");
    assert_eq!(el["elasticIps"][0]["instanceId"], id.as_str());
    let eip = env
        .kiln(&["eip", "create", "--bandwidth", "5", "-q"])
        .ok()
        .id();
    assert!(eip.starts_with("fip-"), "{eip}");
    // The interface has an elastic IP already.
    env.kiln(&["eip", "associate", &eip, "--instance", &id])
        .code(4);
    env.kiln(&["eip", "associate", &eip]).code(2);
    env.kiln(&[
        "eip",
        "associate",
        &eip,
        "--instance",
        &id,
        "--interface",
        &port,
    ])
    .code(2);
    let r = env.kiln(&["eip", "disassociate", &first_eip, "--instance", &id]);
    assert_eq!(
        r.ok().stdout,
        format!("Disassociated elastic IP {first_eip} from instance {id}\n")
    );
    env.kiln(&["eip", "associate", &eip, "--instance", &id])
        .ok();
    let e = env.kiln(&["eip", "show", &eip, "-o", "json"]).ok().json();
    assert_eq!(e["elasticIp"]["instanceId"], id.as_str(), "{e}");
    assert_eq!(e["elasticIp"]["networkInterfaceId"], port.as_str(), "{e}");
    assert_eq!(e["elasticIp"]["bandwidthMbps"], 5, "{e}");
    let t = env.kiln(&["eip", "show", &eip]).ok().stdout.clone();
    assert!(t.contains("ASSOCIATED") && t.contains("5 Mbps"), "{t}");
    env.kiln(&["eip", "disassociate", &eip, "--interface", &port])
        .ok();
    env.kiln(&["eip", "associate", &eip, "--interface", &port])
        .ok();
    assert_eq!(s.instance(&id).await["elasticIpId"], eip.as_str());
    let t = env.kiln(&["eip", "list"]).ok().stdout.clone();
    assert!(
        t.contains("NOT_ASSOCIATED") && t.contains(&first_eip),
        "{t}"
    );

    // modify / set-password (from the environment) / types / resize / rebuild
    env.kiln(&[
        "instance",
        "modify",
        &id,
        "--name",
        "cli-net-vm2",
        "--hostname",
        "web2",
    ])
    .ok();
    let inst = s.instance(&id).await;
    assert_eq!(inst["instanceName"], "cli-net-vm2");
    assert_eq!(inst["hostname"], "web2");
    env.kiln(&["instance", "modify", &id]).code(2);
    env.kiln(&["instance", "set-password", &id]).code(2);
    env.set("KILN_INSTANCE_PASSWORD", "Kiln-2027-ok");
    let r = env.kiln(&["instance", "set-password", &id]);
    assert!(r.ok().stdout.contains("password"), "{r:#?}");
    env.unset("KILN_INSTANCE_PASSWORD");
    let r = env.kiln(&["instance", "set-password", &id, "--password", "weak"]);
    r.code(4);
    assert_error_line(&r, "INVALID_ARGUMENT", "Invalid password");
    let types = env.kiln(&["instance", "types", "-q"]).ok().lines();
    assert!(
        types.contains(&"g.n2.medium".to_string()) && types.contains(&"g.n2.large".to_string()),
        "{types:?}"
    );
    let t = env
        .kiln(&["instance", "types", "--type", "g.n2.large"])
        .ok()
        .stdout
        .clone();
    assert!(t.starts_with("TYPE ") && t.contains("g.n2.large"), "{t}");
    assert_eq!(t.lines().count(), 2, "{t}");

    env.kiln(&["instance", "resize", &id, "--type", "g.n2.large"])
        .code(4);
    env.kiln(&["instance", "stop", &id, "--wait"]).ok();
    env.kiln(&["instance", "resize", &id, "--type", "g.n9.huge"])
        .code(3);
    let r = env.kiln(&["instance", "resize", &id, "--type", "g.n2.large", "--wait"]);
    assert!(
        r.ok()
            .stdout
            .contains(&format!("Resized instance {id} to g.n2.large")),
        "{r:#?}"
    );
    assert_eq!(s.instance(&id).await["instanceType"], "g.n2.large");
    let r = env.kiln(&["instance", "rebuild", &id, "--wait", "-o", "json"]);
    assert_eq!(r.ok().json(), serde_json::json!({}));
    env.kiln(&["instance", "rebuild", &id, "--image", "img-nope"])
        .code(3);
    let r = env.kiln(&[
        "instance",
        "rebuild",
        &id,
        "--image",
        IMAGE,
        "--password",
        "Kiln-2026-ok",
        "-q",
    ]);
    assert_eq!(r.ok().id(), id);
    env.kiln(&["instance", "start", &id, "--wait"]).ok();
    assert_eq!(s.instance(&id).await["status"], "running");

    // Clean-up through the CLI, in the order the rules ask.
    env.kiln(&["subnet", "delete", &subnet]).code(4);
    env.kiln(&["security-group", "delete", &sg]).code(4);
    env.kiln(&["vpc", "delete", &vpc]).code(4);
    env.kiln(&["eip", "delete", &eip]).ok();
    env.kiln(&["instance", "delete", &id, "--wait"]).ok();
    for left in env.kiln(&["eip", "list", "-q"]).ok().lines() {
        env.kiln(&["eip", "delete", &left]).ok();
    }
    assert!(env.kiln(&["eip", "list", "-q"]).ok().lines().is_empty());
    env.kiln(&["security-group", "delete", &sg]).ok();
    assert_eq!(
        env.kiln(&["subnet", "delete", &subnet, "-q"]).ok().id(),
        subnet
    );
    let r = env.kiln(&["vpc", "delete", &vpc]);
    assert_eq!(r.ok().stdout, format!("Deleted vpc {vpc}\n"));
    env.kiln(&["vpc", "show", &vpc]).code(3);
    env.kiln(&["security-group", "show", &sg]).code(3);
}
