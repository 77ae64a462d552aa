//! What a newcomer meets first, run as the built binary: output into a pipe closed early,
//! the server's log in a file (no colour codes) or as JSON, transport errors that name their
//! cause, the endpoint's source and a hint, tables with zoned times and wide (CJK) names,
//! `jdc`'s flag names, and how fast SIGTERM stops the server.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::{jdc_config, Env, Run};
use crate::harness::*;

/// `kiln ARGS` with its stdout the write end of a pipe whose read end is already closed,
/// as `kiln … | head -1` leaves it once `head` is done: the exit status and stderr.
fn run_into_closed_pipe(env: &Env, args: &[&str]) -> (std::process::ExitStatus, String) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills both descriptors, which are then owned here.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read_end);
    let out = env
        .command(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped())
        .output()
        .expect("run kiln");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_closed_pipe_ends_output_quietly_as_sigpipe() {
    use std::os::unix::process::ExitStatusExt;
    let s = Server::start(&[]).await;
    let env = Env::for_server(&s);
    for args in [
        vec!["completions", "bash"],
        vec!["admin", "openapi"],
        vec!["image", "list", "--source", "public"],
        vec!["image", "list", "--source", "public", "-o", "json"],
        vec!["instance", "list", "-q"],
    ] {
        let (status, stderr) = run_into_closed_pipe(&env, &args);
        // `instance list -q` with no instances prints nothing, so it never meets the pipe.
        if args[..2] == ["instance", "list"] {
            assert!(
                status.success() && stderr.is_empty(),
                "{args:?}: {status:?} {stderr}"
            );
            continue;
        }
        assert_eq!(
            status.signal(),
            Some(libc::SIGPIPE),
            "{args:?}: {status:?} {stderr}"
        );
        assert!(stderr.is_empty(), "{args:?} wrote on stderr: {stderr}");
    }
    // As typed in a shell: the status a Unix filter has on a closed pipe (128 + 13), and
    // `head` got its lines.
    let r = env.bash(
        "set +o pipefail\nkiln completions bash | head -3\necho \"status ${PIPESTATUS[0]}\"\n\
         kiln admin openapi | head -1\necho \"status ${PIPESTATUS[0]}\"",
    );
    r.ok();
    assert!(r.stdout.starts_with("_kiln() {\n"), "{r:#?}");
    assert!(r.stdout.contains("status 141"), "{r:#?}");
    assert!(r.stderr.is_empty(), "{r:#?}");
}

#[tokio::test]
async fn server_logs_have_no_colour_in_a_file_and_json_on_request() {
    let s = Server::start(&[]).await;
    let log = s.log_tail(20);
    assert!(log.contains("kiln listening on"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "escape codes in a log file:\n{log}"
    );
    drop(s);

    let s = Server::start(&["--log-format", "json"]).await;
    let log = s.log_tail(20);
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{v}");
    }
    assert!(
        lines.iter().any(|l| l.contains("kiln listening on")),
        "{log}"
    );
    let env = Env::new();
    env.kiln(&["serve", "--log-format", "yaml"]).code(2);
}

/// A loopback port nothing listens on.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn transport_errors_name_the_cause_the_endpoint_source_and_a_hint() {
    let port = dead_port();
    let addr = format!("127.0.0.1:{port}");
    let check = |r: &Run, source: &str| {
        r.code(1);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 3, "{r:#?}");
        assert_eq!(
            lines[0],
            format!("TRANSPORT: cannot connect to http://{addr}: connection refused"),
            "{r:#?}"
        );
        assert!(
            lines[1].contains(source),
            "endpoint source {source:?} not named: {r:#?}"
        );
        assert!(
            lines[2].starts_with(&format!("hint: is `kiln serve` running on {addr}?")),
            "{r:#?}"
        );
        assert!(r.stdout.is_empty(), "{r:#?}");
    };

    // From the environment.
    let mut env = Env::new();
    env.set("KILN_ENDPOINT", &addr);
    env.set("KILN_ACCESS_KEY", "AK");
    env.set("KILN_SECRET_KEY", "SK");
    check(&env.kiln(&["instance", "list"]), "came from KILN_ENDPOINT");

    // From the flag.
    let r = env.kiln(&[
        "image",
        "show",
        "img-x",
        "--endpoint",
        &format!("http://{addr}"),
    ]);
    check(&r, "came from --endpoint");

    // From a jdc profile.
    let env = Env::new();
    env.jdc(&jdc_config(&[("kiln", &addr, "AK", "SK")]), Some("kiln"));
    check(&env.kiln(&["disk", "list"]), "came from jdc profile [kiln]");

    // The default endpoint with the keys of a local data directory: the hint says how to
    // start the server on it.
    let env = Env::new();
    let data = env.home.path().join("kiln-data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("credentials"),
        "KILN_ACCESS_KEY=AK\nKILN_SECRET_KEY=SK\n",
    )
    .unwrap();
    let r = env.kiln(&["snapshot", "list", "--endpoint", &addr]);
    check(&r, "--endpoint");
    assert!(r.stderr.contains("--data-dir ./kiln-data"), "{r:#?}");
    let r = env.kiln(&["quota", "show"]);
    r.code(1);
    assert!(
        r.stderr.contains("is the default endpoint")
            && r.stderr.contains("connection refused")
            && r.stderr.contains("hint: "),
        "{r:#?}"
    );

    // Something that is not a JD API answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::Write;
        for stream in listener.incoming().take(1) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
            );
        }
    });
    let mut env = Env::new();
    env.set("KILN_ACCESS_KEY", "AK");
    env.set("KILN_SECRET_KEY", "SK");
    let r = env.kiln(&["instance", "list", "--endpoint", &other.to_string()]);
    r.code(1);
    assert!(r.stderr.contains("answered HTTP 200 OK"), "{r:#?}");
    assert!(
        r.stderr.contains("is not a Kiln or JD Cloud API endpoint"),
        "{r:#?}"
    );
}

#[tokio::test]
async fn tables_show_zoned_times_align_wide_names_and_take_jdc_flag_names() {
    use unicode_width::UnicodeWidthStr;
    let s = Server::start(&[]).await;
    let env = Env::for_server(&s);
    let wide = env.kiln(&["disk", "create", "--name", "中文数据盘", "--wait", "-q"]);
    let wide = wide.ok().lines().last().unwrap().clone();
    let narrow = env
        .kiln(&["disk", "create", "--name", "data", "--wait", "-q"])
        .ok()
        .lines()
        .last()
        .unwrap()
        .clone();

    // The API keeps JD's format (UTC+8, no zone); the table shows the same instant in UTC.
    let json = env.kiln(&["disk", "show", &wide, "-o", "json"]).json();
    let jd = json["disk"]["createTime"].as_str().unwrap().to_string();
    let naive = chrono::NaiveDateTime::parse_from_str(&jd, "%Y-%m-%d %H:%M:%S")
        .unwrap_or_else(|e| panic!("createTime {jd:?} is not JD's format: {e}"));
    let utc = (naive - chrono::Duration::hours(8))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let table = env.kiln(&["disk", "list"]).ok().stdout.clone();
    assert!(table.contains(&utc), "{utc} not in:\n{table}");
    assert!(!table.contains(&jd), "{table}");
    let show = env.kiln(&["disk", "show", &wide]).ok().stdout.clone();
    assert!(show.contains(&format!("Created:     {utc}")), "{show}");

    // Every column starts at the same terminal column on every line.
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let status_at = |line: &str| {
        let at = ["available", "STATUS"]
            .iter()
            .find_map(|w| line.find(&format!("  {w}")))
            .unwrap_or_else(|| panic!("no status in {line:?}"));
        line[..at + 2].width()
    };
    let cols: Vec<usize> = lines.iter().map(|l| status_at(l)).collect();
    assert!(cols.iter().all(|c| *c == cols[0]), "{cols:?}\n{table}");
    assert!(table.contains(&narrow));

    // jdc's flag names.
    let by_source = env
        .kiln(&["image", "list", "--source", "public", "-o", "json"])
        .json();
    let by_jdc = env
        .kiln(&[
            "image",
            "list",
            "--image-source",
            "public",
            "--region-id",
            REGION,
            "-o",
            "json",
        ])
        .json();
    assert_eq!(by_source, by_jdc);
    assert_eq!(by_jdc["totalCount"], 3, "{by_jdc}");
    // One page, as jdc asks (JD's pageSize is 10 to 100): page 2 of 10 is empty.
    let page = |n: &str| {
        env.kiln(&[
            "image",
            "list",
            "--image-source",
            "public",
            "--page-number",
            n,
            "--page-size",
            "10",
            "-o",
            "json",
        ])
        .json()
    };
    let (first, second) = (page("1"), page("2"));
    assert_eq!(first["images"].as_array().unwrap().len(), 3, "{first}");
    assert_eq!(second["images"].as_array().unwrap().len(), 0, "{second}");
    assert_eq!(second["totalCount"], 3, "{second}");
    let r = env.kiln(&["image", "list", "--ids", &format!("[\"{IMAGE}\"]"), "-q"]);
    assert_eq!(r.ok().lines(), vec![IMAGE.to_string()]);
    env.kiln(&["image", "show", "--image-id", IMAGE, "-q"]).ok();
    assert_eq!(
        env.kiln(&["disk", "show", "--disk-id", &wide, "-q"]).id(),
        wide
    );
    // One way or the other, not both, not neither.
    env.kiln(&["disk", "show", &wide, "--disk-id", &wide])
        .code(2);
    env.kiln(&["disk", "show"]).code(2);

    let inst = env
        .kiln(&[
            "instance",
            "create",
            "--image-id",
            IMAGE,
            "--name",
            "jdc",
            "--max-count",
            "1",
            "--wait",
            "-q",
        ])
        .ok()
        .lines()
        .last()
        .unwrap()
        .clone();
    env.kiln(&[
        "instance",
        "attach-disk",
        "--instance-id",
        &inst,
        "--disk-id",
        &narrow,
        "--device-name",
        "vdc",
        "--wait",
    ])
    .ok();
    let i = env
        .kiln(&["instance", "show", "--instance-id", &inst, "-o", "json"])
        .json();
    assert_eq!(
        attached_cloud_disk(&i["instance"], "vdc").as_deref(),
        Some(narrow.as_str())
    );
    env.kiln(&["instance", "stop", "--instance-id", &inst, "--wait"])
        .ok();
    let snap = env
        .kiln(&[
            "snapshot",
            "create",
            "--disk-id",
            &wide,
            "--name",
            "s",
            "--wait",
            "-q",
        ])
        .ok()
        .lines()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        env.kiln(&["snapshot", "show", "--snapshot-id", &snap, "-q"])
            .id(),
        snap
    );
    let img = env
        .kiln(&[
            "image",
            "create",
            "--instance-id",
            &inst,
            "--name",
            "baked",
            "--wait",
            "-q",
        ])
        .ok()
        .lines()
        .last()
        .unwrap()
        .clone();
    env.kiln(&[
        "image",
        "delete",
        "--image-id",
        &img,
        "--delete-snapshot",
        "--wait",
    ])
    .ok();
}

#[tokio::test]
async fn sigterm_exits_as_soon_as_the_work_is_done() {
    // Idle: at once.
    let mut s = Server::start(&[]).await;
    let started = Instant::now();
    assert!(s.terminate().success());
    let idle = started.elapsed();
    assert!(
        idle < Duration::from_secs(1),
        "idle server took {idle:?} to stop"
    );

    // With a task in flight (each step takes at least 3 s): it does not wait out the
    // delay; the task resumes at the next start and finishes.
    let mut s = Server::start(&["--task-delay", "3s"]).await;
    let disk = s.create_disk("inflight", 20).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    assert!(s.terminate().success());
    let busy = started.elapsed();
    assert!(
        busy < Duration::from_secs(1),
        "busy server took {busy:?} to stop"
    );
    s.start_again().await;
    s.wait_disk(&disk, "available").await;
}
