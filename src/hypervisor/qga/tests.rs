//! Against a fake agent speaking the wire protocol (the real one needs a booted guest).

use super::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::UnixListener;

#[derive(Clone, Copy, PartialEq)]
enum Fake {
    /// Answers like qemu-ga, with junk and a stale echo before each sync reply.
    Agent,
    /// Like `Agent`, but answers the first `guest-ping` only after 300 ms.
    SlowFirstPing,
    /// Reads everything, answers nothing (QEMU's socket with no agent in the guest).
    Silent,
}

/// Serves connections on `path` forever, behaving as `fake`.
fn serve(path: &Path, fake: Fake) {
    let listener = UnixListener::bind(path).unwrap();
    let slow_ping = Arc::new(AtomicBool::new(fake == Fake::SlowFirstPing));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(agent(stream, fake, slow_ping.clone()));
        }
    });
}

async fn agent(stream: UnixStream, fake: Fake, slow_ping: Arc<AtomicBool>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut frozen = false;
    let mut polls = 0;
    let mut input = Vec::new();
    loop {
        let mut line = Vec::new();
        if read.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
            return;
        }
        // The 0xFF a client sends to reset the parser.
        line.retain(|&b| b != 0xFF);
        let Ok(cmd) = serde_json::from_slice::<Value>(&line) else {
            continue;
        };
        if fake == Fake::Silent {
            continue;
        }
        let ret = |v: Value| format!("{}\n", json!({ "return": v })).into_bytes();
        let reply = match cmd["execute"].as_str().unwrap() {
            "guest-sync-delimited" => {
                let mut out = ret(json!({}));
                out.extend(b"\xff");
                out.extend(ret(json!(7)));
                out.extend(b"\xff");
                out.extend(ret(cmd["arguments"]["id"].clone()));
                out
            }
            "guest-ping" => {
                if slow_ping.swap(false, Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                ret(json!({}))
            }
            "guest-exec" => {
                assert_eq!(cmd["arguments"]["capture-output"], true);
                let data = cmd["arguments"]["input-data"].as_str().unwrap_or("");
                input = B64.decode(data).unwrap();
                ret(json!({"pid": 42}))
            }
            "guest-exec-status" => {
                polls += 1;
                let mut out = b"out:".to_vec();
                out.extend(&input);
                ret(match polls {
                    1 => json!({"exited": false}),
                    _ => json!({"exited": true, "exitcode": 3,
                        "out-data": B64.encode(&out), "err-data": B64.encode("err")}),
                })
            }
            "guest-fsfreeze-freeze" => {
                frozen = true;
                ret(json!(2))
            }
            "guest-fsfreeze-thaw" => {
                frozen = false;
                ret(json!(2))
            }
            "guest-fsfreeze-status" => ret(json!(if frozen { "frozen" } else { "thawed" })),
            "guest-shutdown" => return,
            other => format!(
                "{}\n",
                json!({"error": {"class": "CommandNotFound", "desc": format!("{other}?")}})
            )
            .into_bytes(),
        };
        write.write_all(&reply).await.unwrap();
    }
}

fn sock() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qga.sock");
    (dir, path)
}

#[tokio::test]
async fn syncs_past_stale_replies_and_runs_commands() {
    let (_d, path) = sock();
    // The socket appears only after the client started trying.
    let later = path.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        serve(&later, Fake::Agent);
    });
    let ga = GuestAgent::connect(&path, Duration::from_secs(5))
        .await
        .unwrap();
    ga.ping().await.unwrap();
    assert_eq!(ga.fsfreeze_status().await.unwrap(), FreezeStatus::Thawed);
    assert_eq!(ga.fsfreeze_freeze().await.unwrap(), 2);
    assert_eq!(ga.fsfreeze_status().await.unwrap(), FreezeStatus::Frozen);
    assert_eq!(ga.fsfreeze_thaw().await.unwrap(), 2);
    let err = ga
        .call::<Value>(
            "guest-nothing",
            Value::Null,
            Instant::now() + Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, QgaError::Command { ref class, .. } if class == "CommandNotFound"));
    // A command error leaves the stream in step.
    ga.ping().await.unwrap();
}

#[tokio::test]
async fn exec_polls_until_exit_with_output_and_status() {
    let (_d, path) = sock();
    serve(&path, Fake::Agent);
    let ga = GuestAgent::connect(&path, Duration::from_secs(5))
        .await
        .unwrap();
    let argv = ["/bin/cat".to_string()];
    let out = ga.exec(&argv, Some(&b"hello\n"[..])).await.unwrap();
    assert_eq!(
        out,
        ExecOutput {
            exit_code: 3,
            signal: None,
            stdout: b"out:hello\n".to_vec(),
            stderr: b"err".to_vec(),
        }
    );
    let err = ga.exec(&[], None).await.unwrap_err();
    assert!(matches!(err, QgaError::Protocol(_)), "{err}");
}

#[tokio::test]
async fn a_late_reply_after_a_timeout_is_not_taken_for_the_next_one() {
    let (_d, path) = sock();
    serve(&path, Fake::SlowFirstPing);
    let ga = GuestAgent::connect(&path, Duration::from_secs(5))
        .await
        .unwrap()
        .with_timeout(Duration::from_millis(100));
    let err = ga.ping().await.unwrap_err();
    assert!(matches!(err, QgaError::Timeout(_)), "{err}");
    // The ping's `{"return": {}}` arrives during the resync and is skipped; had it been read
    // as the reply to this call, the u32 would not parse.
    let ga = ga.with_timeout(Duration::from_secs(5));
    assert_eq!(ga.fsfreeze_freeze().await.unwrap(), 2);
    ga.ping().await.unwrap();
}

#[tokio::test]
async fn silence_is_no_agent_within_the_timeout() {
    let (_d, path) = sock();
    serve(&path, Fake::Silent);
    let started = Instant::now();
    let err = GuestAgent::connect(&path, Duration::from_millis(700))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, QgaError::NoAgent), "{err}");
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[tokio::test]
async fn a_missing_socket_is_its_connect_error() {
    let (_d, path) = sock();
    let err = GuestAgent::connect(&path, Duration::from_millis(200))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, QgaError::Io(_)), "{err}");
}

#[tokio::test]
async fn shutdown_counts_silence_or_hang_up_as_done() {
    let (_d, path) = sock();
    serve(&path, Fake::Agent);
    let ga = GuestAgent::connect(&path, Duration::from_secs(5))
        .await
        .unwrap();
    let started = Instant::now();
    ga.shutdown(ShutdownMode::Powerdown).await.unwrap();
    assert!(started.elapsed() < SHUTDOWN_ERROR_WAIT + Duration::from_secs(1));
    // The fake hung up; the next call reconnects and resyncs.
    ga.ping().await.unwrap();
}

/// The real qemu-ga, run on the host over a unix socket (its `unix-listen` method) when
/// `KILN_TEST_QEMU_GA` names the binary (e.g. extracted from the qemu-guest-agent package).
/// Freeze, thaw and shutdown are blocked: they would act on the host.
#[tokio::test]
async fn the_real_agent_on_the_host() {
    let Some(qemu_ga) = std::env::var_os("KILN_TEST_QEMU_GA") else {
        eprintln!("skipped: KILN_TEST_QEMU_GA (a qemu-ga binary) is not set");
        return;
    };
    let (dir, path) = sock();
    let _agent = tokio::process::Command::new(qemu_ga)
        .args(["-m", "unix-listen", "-p"])
        .arg(&path)
        .arg("-t")
        .arg(dir.path())
        .args([
            "-b",
            "guest-fsfreeze-freeze,guest-fsfreeze-thaw,guest-shutdown",
        ])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let ga = GuestAgent::connect(&path, Duration::from_secs(10))
        .await
        .unwrap();
    ga.ping().await.unwrap();
    let argv = ["/bin/sh", "-c", "cat; echo err >&2; exit 3"].map(String::from);
    let out = ga.exec(&argv, Some(&b"hello\n"[..])).await.unwrap();
    assert_eq!((out.exit_code, out.signal), (3, None));
    assert_eq!(
        (&out.stdout[..], &out.stderr[..]),
        (&b"hello\n"[..], &b"err\n"[..])
    );
    let out = ga.shell("kill -9 $$").await.unwrap();
    assert_eq!((out.exit_code, out.signal), (-1, Some(9)));
    assert_eq!(ga.fsfreeze_status().await.unwrap(), FreezeStatus::Thawed);
    let err = ga.fsfreeze_freeze().await.unwrap_err();
    assert!(matches!(err, QgaError::Command { ref class, .. } if class == "CommandNotFound"));
}
