//! `kiln instance exec` and `kiln instance console`: a running guest's shell command and
//! serial console (`--hypervisor qemu`), through Kiln's own API (`http::kiln_guest`).

use std::io::Write;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::{Ctx, Failure, Outcome};

/// How often an attached console looks for new output.
const CONSOLE_POLL: Duration = Duration::from_millis(200);
/// What an attached console shows of what came before.
const CONSOLE_BACKLOG: u64 = 4096;

/// Runs `command` in the guest: its output verbatim on stdout and stderr, and its exit
/// code (128 + the signal that killed it) as the outcome's.
pub async fn exec(
    ctx: &Ctx,
    id: &str,
    command: &[String],
    timeout: Duration,
) -> Result<Outcome, Failure> {
    let body = json!({"command": command.join(" "), "timeoutSeconds": timeout.as_secs().max(1)});
    let r = ctx
        .client
        .guest_call(Method::POST, id, "exec", "", Some(&body))
        .await
        .map_err(Failure::Api)?;
    let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
    if !ctx.quiet {
        print!("{}", text("stdout"));
        let _ = std::io::stdout().flush();
        eprint!("{}", text("stderr"));
    }
    let code = match (r["exitCode"].as_i64(), r["signal"].as_i64()) {
        (_, Some(signal)) => 128 + signal,
        (Some(code), None) => code,
        (None, None) => 1,
    };
    let mut out = Outcome::new(vec![id.to_string()], r);
    out.exit_code = Some(code.clamp(0, 255) as u8);
    Ok(out)
}

/// `--log`: the whole console log so far. Otherwise attached: the log's end, then new
/// output as it comes, while each line read from stdin is typed into the console; ends at
/// the end of stdin.
pub async fn console(ctx: &Ctx, id: &str, log_only: bool) -> Result<Outcome, Failure> {
    let read = |offset: Option<u64>| async move {
        let query = offset.map(|o| format!("offset={o}")).unwrap_or_default();
        ctx.client
            .guest_call(Method::GET, id, "console", &query, None)
            .await
            .map_err(Failure::Api)
    };
    let show = |r: &serde_json::Value| -> u64 {
        print!("{}", r["output"].as_str().unwrap_or_default());
        let _ = std::io::stdout().flush();
        r["offset"].as_u64().unwrap_or(0)
    };
    if log_only {
        let mut offset = 0;
        loop {
            let r = read(Some(offset)).await?;
            let next = show(&r);
            if next == offset {
                return Ok(Outcome::new(vec![id.to_string()], json!({})));
            }
            offset = next;
        }
    }
    let first = read(None).await?;
    let start = first["offset"].as_u64().unwrap_or(0);
    let mut offset = show(&read(Some(start.saturating_sub(CONSOLE_BACKLOG))).await?);
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => {
                    let body = json!({"input": format!("{line}\n")});
                    ctx.client
                        .guest_call(Method::POST, id, "console", "", Some(&body))
                        .await
                        .map_err(Failure::Api)?;
                }
                None => {
                    tokio::time::sleep(CONSOLE_POLL).await;
                    show(&read(Some(offset)).await?);
                    return Ok(Outcome::new(vec![id.to_string()], json!({})));
                }
            },
            _ = tokio::time::sleep(CONSOLE_POLL) => {
                offset = show(&read(Some(offset)).await?);
            }
        }
    }
}
