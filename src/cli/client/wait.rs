//! `--wait`: poll a resource until it reaches its final state. On a terminal a live line
//! (spinner, status, progress, elapsed time) is redrawn on stderr; without one (pipes, CI)
//! a plain line is printed on each status change and every 30 s. Either way it ends with
//! a one-line summary (on stdout in table mode, else on stderr).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use serde_json::Value;

use super::output::{s, Query};
use super::{Ctx, Failure};
use crate::cli::out::{errln, outln};
use crate::client::CallError;

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// A live line when stderr is a terminal, plain status lines otherwise.
    #[default]
    Auto,
    /// Always the live line (as on a terminal).
    Always,
    /// Always plain status lines.
    Never,
}

/// What is waited for.
#[derive(Debug, Clone)]
pub enum Target {
    Instance(String),
    Disk(String),
    Snapshot(String),
    Image(String),
    /// An import or export task (`imageTasks`).
    ImageTask(String),
    /// The attachment of `disk` to `instance` (status `detached` once there is none).
    Attachment {
        disk: String,
        instance: String,
    },
}

/// The final state wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Status(&'static str),
    Gone,
}

impl Target {
    pub fn label(&self) -> String {
        match self {
            Target::Instance(id) => format!("instance {id}"),
            Target::Disk(id) => format!("disk {id}"),
            Target::Snapshot(id) => format!("snapshot {id}"),
            Target::Image(id) => format!("image {id}"),
            Target::ImageTask(id) => format!("task {id}"),
            Target::Attachment { disk, instance } => format!("disk {disk} on {instance}"),
        }
    }
}

enum Probe {
    Gone,
    State {
        status: String,
        progress: String,
        detail: String,
        object: Value,
    },
}

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const TICK: Duration = Duration::from_millis(100);
const HEARTBEAT: Duration = Duration::from_secs(30);

fn is_failure(status: &str) -> bool {
    status == "error" || status.starts_with("error_") || status == "failed"
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

impl Ctx {
    async fn probe(&self, target: &Target) -> Result<Probe, CallError> {
        let r = match target {
            Target::Instance(id) => self.get("vm", &format!("/instances/{id}"), "").await,
            Target::Disk(id) | Target::Attachment { disk: id, .. } => {
                self.get("disk", &format!("/disks/{id}"), "").await
            }
            Target::Snapshot(id) => self.get("disk", &format!("/snapshots/{id}"), "").await,
            Target::Image(id) => self.get("vm", &format!("/images/{id}"), "").await,
            Target::ImageTask(id) => {
                let mut q = Query::new();
                q.list("taskIds", std::slice::from_ref(id));
                self.get("vm", "/imageTasks", &q.encode()).await
            }
        };
        let v = match r {
            Ok(v) => v,
            Err(e) if e.status == "NOT_FOUND" || e.code == 404 => return Ok(Probe::Gone),
            Err(e) => return Err(e),
        };
        let (object, status, progress, detail) = match target {
            Target::Instance(_) => {
                let o = v["instance"].clone();
                let st = s(&o, "/status");
                (o, st, String::new(), String::new())
            }
            Target::Disk(_) => {
                let o = v["disk"].clone();
                let st = s(&o, "/status");
                // A deleted disk reads `deleted` for a while before it is 404: done.
                if st == "deleted" {
                    return Ok(Probe::Gone);
                }
                (o, st, String::new(), String::new())
            }
            Target::Snapshot(_) => {
                let o = v["snapshot"].clone();
                let st = s(&o, "/status");
                (o, st, String::new(), String::new())
            }
            Target::Image(_) => {
                let o = v["image"].clone();
                let st = s(&o, "/status");
                let p = s(&o, "/progress");
                let p = if st == "pending" && !p.is_empty() && p != "0" {
                    format!("{p}%")
                } else {
                    String::new()
                };
                (o, st, p, String::new())
            }
            Target::ImageTask(id) => {
                let Some(t) = v["taskSet"]
                    .as_array()
                    .and_then(|a| a.iter().find(|t| t["taskId"] == id.as_str()))
                    .cloned()
                else {
                    return Ok(Probe::Gone);
                };
                let st = s(&t, "/taskStatus");
                let p = s(&t, "/progress");
                let p = if st == "running" && !p.is_empty() {
                    format!("{p}%")
                } else {
                    String::new()
                };
                let detail = s(&t, "/errorInfo");
                (t, st, p, detail)
            }
            Target::Attachment { instance, .. } => {
                let o = v["disk"].clone();
                let st = o["attachments"]
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x["instanceId"] == instance.as_str()))
                    .map(|x| s(x, "/status"))
                    .unwrap_or_else(|| "detached".into());
                (o, st, String::new(), String::new())
            }
        };
        Ok(Probe::State {
            status,
            progress,
            detail,
            object,
        })
    }

    fn poll_interval(&self, elapsed: Duration) -> Duration {
        let base = self.client.base_url("vm");
        let local = ["://127.", "://localhost", "://[::1]"]
            .iter()
            .any(|p| base.contains(p));
        let mut d = if local {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(2)
        };
        if elapsed > Duration::from_secs(60) {
            d = d.max(Duration::from_secs(1));
        }
        d
    }

    fn live(&self) -> bool {
        match self.progress {
            Progress::Always => true,
            Progress::Never => false,
            Progress::Auto => std::io::stderr().is_terminal(),
        }
    }

    /// Prints the one-line summary of a wait.
    fn summary(&self, live: bool, line: &str) {
        let line = if live {
            format!("✓ {line}")
        } else {
            line.to_string()
        };
        if self.human() {
            outln!("{line}");
        } else {
            errln!("{line}");
        }
    }

    /// Waits until `target` is in `want`; returns its last description (`null` once gone).
    /// The common end of a call that starts a change (delete, start, attach…): says
    /// "{verb} {noun} {id}", waits for `want` when asked, then prints ids or the result.
    #[allow(clippy::too_many_arguments)]
    pub async fn accepted(
        &self,
        noun: &str,
        id: &str,
        result: Value,
        verb: &str,
        wait: bool,
        target: Target,
        want: Want,
    ) -> Result<super::Outcome, Failure> {
        let result = if result.is_null() {
            serde_json::json!({})
        } else {
            result
        };
        if self.human() {
            outln!("{verb} {noun} {id}");
        }
        if wait {
            self.wait_for(&target, want).await?;
        }
        let ids = vec![id.to_string()];
        if !self.human() {
            self.emit(&ids, &result, String::new);
        }
        Ok(super::Outcome::new(ids, result))
    }

    pub async fn wait_for(&self, target: &Target, want: Want) -> Result<Value, Failure> {
        let label = target.label();
        let live = self.live();
        let start = Instant::now();
        let mut err = std::io::stderr();
        let clear = |err: &mut std::io::Stderr| {
            if live {
                let _ = write!(err, "\r\x1b[2K");
                let _ = err.flush();
            }
        };
        let mut status = String::from("…");
        let mut progress = String::new();
        let mut printed: Option<(String, Instant)> = None;
        let mut next_poll = start;
        let mut frame = 0usize;
        loop {
            if Instant::now() >= next_poll {
                let probe = match self.probe(target).await {
                    Ok(p) => p,
                    Err(e) => {
                        clear(&mut err);
                        return Err(e.into());
                    }
                };
                match probe {
                    Probe::Gone if want == Want::Gone => {
                        clear(&mut err);
                        let word = match target {
                            Target::ImageTask(_) => "gone",
                            _ => "deleted",
                        };
                        self.summary(live, &format!("{label} {word} ({})", secs(start.elapsed())));
                        return Ok(Value::Null);
                    }
                    Probe::Gone => {
                        clear(&mut err);
                        return Err(Failure::WaitFailed(format!(
                            "{label} no longer exists (last status {status}) after {}",
                            secs(start.elapsed())
                        )));
                    }
                    Probe::State {
                        status: st,
                        progress: p,
                        detail,
                        object,
                    } => {
                        status = st;
                        progress = p;
                        if matches!(want, Want::Status(w) if w == status) {
                            clear(&mut err);
                            self.summary(
                                live,
                                &format!("{label} {status} ({})", secs(start.elapsed())),
                            );
                            return Ok(object);
                        }
                        if is_failure(&status) {
                            clear(&mut err);
                            let detail = if detail.is_empty() {
                                String::new()
                            } else {
                                format!(": {detail}")
                            };
                            return Err(Failure::WaitFailed(format!(
                                "{label} ended in {status} after {}{detail}",
                                secs(start.elapsed())
                            )));
                        }
                    }
                }
                next_poll = Instant::now() + self.poll_interval(start.elapsed());
                if !live {
                    let key = format!("{status} {progress}");
                    let due = match &printed {
                        None => true,
                        Some((k, at)) => *k != key || at.elapsed() >= HEARTBEAT,
                    };
                    if due {
                        let p = if progress.is_empty() {
                            String::new()
                        } else {
                            format!(" {progress}")
                        };
                        let _ = writeln!(err, "{label}: {status}{p} ({})", secs(start.elapsed()));
                        printed = Some((key, Instant::now()));
                    }
                }
            }
            if start.elapsed() >= self.wait_timeout {
                clear(&mut err);
                return Err(Failure::Timeout(format!(
                    "{label} still {status} after {} (--wait-timeout)",
                    secs(start.elapsed())
                )));
            }
            if live {
                let p = if progress.is_empty() {
                    String::new()
                } else {
                    format!(" {progress}")
                };
                let _ = write!(
                    err,
                    "\r\x1b[2K{} {label}: {status}{p} · {}",
                    SPINNER[frame % SPINNER.len()],
                    secs(start.elapsed())
                );
                let _ = err.flush();
                frame += 1;
                tokio::time::sleep(TICK).await;
            } else {
                let now = Instant::now();
                let until_deadline = (start + self.wait_timeout).saturating_duration_since(now);
                let d = next_poll.saturating_duration_since(now).min(until_deadline);
                tokio::time::sleep(d.max(Duration::from_millis(10))).await;
            }
        }
    }
}
