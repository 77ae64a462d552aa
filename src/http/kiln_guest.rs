//! Kiln's own API for running guests (`--hypervisor qemu`), any account on its own
//! instances:
//! - `POST /kiln/v1/regions/{regionId}/instances/{instanceId}/exec`
//!   `{"command": "…", "timeoutSeconds": 30}` → `{"exitCode", "signal", "stdout", "stderr"}`
//! - `GET …/instances/{instanceId}/console?offset=N` → `{"offset", "output"}`: the serial
//!   console's log from byte N (without one: its last 64 KiB)
//! - `POST …/instances/{instanceId}/console` `{"input": "…"}`: typed into the console.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Reply;
use crate::error::{ApiError, ApiResult};
use crate::service::{Scope, Service};

/// The longest command `exec` takes.
const MAX_COMMAND: usize = 64 * 1024;
/// The longest console input one call types.
const MAX_INPUT: usize = 64 * 1024;
/// What a console read without an offset shows: the end of the log.
const CONSOLE_TAIL: u64 = 64 * 1024;
/// The most one console read answers.
const CONSOLE_CHUNK: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestVerb {
    Exec,
    ConsoleRead,
    ConsoleWrite,
}

/// One call on a guest: what, and which instance where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestCall {
    pub verb: GuestVerb,
    pub region: String,
    pub instance_id: String,
}

impl GuestCall {
    /// `rest` is the path after `/kiln/v1/regions/`.
    pub fn parse(method: &str, rest: &str) -> Option<GuestCall> {
        let mut parts = rest.trim_end_matches('/').split('/');
        let (region, "instances", id, verb, None) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next(),
        ) else {
            return None;
        };
        let verb = match (method, verb) {
            ("POST", "exec") => GuestVerb::Exec,
            ("GET", "console") => GuestVerb::ConsoleRead,
            ("POST", "console") => GuestVerb::ConsoleWrite,
            _ => return None,
        };
        let plain =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        (plain(region) && plain(id)).then(|| GuestCall {
            verb,
            region: region.to_string(),
            instance_id: id.to_string(),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExecBody {
    command: Option<String>,
    timeout_seconds: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecReply {
    exit_code: i32,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsoleInput {
    input: Option<String>,
}

#[derive(Serialize)]
struct ConsoleOutput {
    offset: u64,
    output: String,
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::InvalidArgument(msg.into())
}

/// The command and its timeout from an exec body.
fn exec_args(body: &[u8]) -> ApiResult<(String, Duration)> {
    let b: ExecBody =
        serde_json::from_slice(body).map_err(|e| invalid(format!("Invalid exec body: {e}")))?;
    let command = b
        .command
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| invalid("Parameter command missing"))?;
    if command.len() > MAX_COMMAND {
        return Err(invalid("Parameter command too long (at most 64 KiB)"));
    }
    let secs = b.timeout_seconds.unwrap_or(30);
    if !(1..=600).contains(&secs) {
        return Err(invalid("Parameter timeoutSeconds out of range (1..600)"));
    }
    Ok((command, Duration::from_secs(secs)))
}

/// `offset=N` from the query, if any.
fn offset_arg(query: &str) -> ApiResult<Option<u64>> {
    let Some(v) = query.split('&').find_map(|kv| kv.strip_prefix("offset=")) else {
        return Ok(None);
    };
    v.parse()
        .map(Some)
        .map_err(|_| invalid(format!("Invalid offset '{v}'")))
}

pub async fn handle(
    svc: &Service,
    call: GuestCall,
    pin: &str,
    query: &str,
    body: &[u8],
) -> ApiResult<Reply> {
    crate::service::catalog::check_region(&call.region)?;
    let scope = Scope {
        pin: pin.to_string(),
        region: call.region,
    };
    let id = &call.instance_id;
    match call.verb {
        GuestVerb::Exec => {
            let (command, timeout) = exec_args(body)?;
            let out = svc.instance_exec(&scope, id, &command, timeout).await?;
            Reply::serialize(&ExecReply {
                exit_code: out.exit_code,
                signal: out.signal,
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
        GuestVerb::ConsoleRead => {
            let from = offset_arg(query)?;
            let (offset, bytes) = svc
                .instance_console_read(&scope, id, from, CONSOLE_TAIL, CONSOLE_CHUNK)
                .await?;
            Reply::serialize(&ConsoleOutput {
                offset,
                output: String::from_utf8_lossy(&bytes).into_owned(),
            })
        }
        GuestVerb::ConsoleWrite => {
            let b: ConsoleInput = serde_json::from_slice(body)
                .map_err(|e| invalid(format!("Invalid console body: {e}")))?;
            let input = b.input.ok_or_else(|| invalid("Parameter input missing"))?;
            if input.len() > MAX_INPUT {
                return Err(invalid("Parameter input too long (at most 64 KiB)"));
            }
            svc.instance_console_write(&scope, id, input.as_bytes())
                .await?;
            Ok(Reply::Empty)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn paths() {
        let call = |verb, id: &str| {
            Some(GuestCall {
                verb,
                region: "cn-north-1".into(),
                instance_id: id.into(),
            })
        };
        assert_eq!(
            GuestCall::parse("POST", "cn-north-1/instances/i-abc/exec"),
            call(GuestVerb::Exec, "i-abc")
        );
        assert_eq!(
            GuestCall::parse("GET", "cn-north-1/instances/i-abc/console/"),
            call(GuestVerb::ConsoleRead, "i-abc")
        );
        assert_eq!(
            GuestCall::parse("POST", "cn-north-1/instances/i-abc/console"),
            call(GuestVerb::ConsoleWrite, "i-abc")
        );
        for (m, p) in [
            ("GET", "cn-north-1/instances/i-abc/exec"),
            ("DELETE", "cn-north-1/instances/i-abc/console"),
            ("POST", "cn-north-1/instances/i-abc/shell"),
            ("POST", "cn-north-1/instances//exec"),
            ("POST", "cn-north-1/disks/vol-1/exec"),
            ("POST", "cn-north-1/instances/i-abc/exec/more"),
            ("POST", "cn-north-1/instances/i.abc/exec"),
            ("POST", "cn-north-1/instances"),
        ] {
            assert_eq!(GuestCall::parse(m, p), None, "{m} {p}");
        }
    }

    #[test]
    fn exec_bodies() {
        let (cmd, t) = exec_args(br#"{"command":"ls /"}"#).unwrap();
        assert_eq!((cmd.as_str(), t), ("ls /", Duration::from_secs(30)));
        let (_, t) = exec_args(br#"{"command":"x","timeoutSeconds":600}"#).unwrap();
        assert_eq!(t, Duration::from_secs(600));
        for bad in [
            &br#"{}"#[..],
            br#"{"command":"  "}"#,
            br#"{"command":"x","timeoutSeconds":0}"#,
            br#"{"command":"x","timeoutSeconds":601}"#,
            br#"{"command":"x","other":1}"#,
            br#"not json"#,
        ] {
            assert!(matches!(exec_args(bad), Err(ApiError::InvalidArgument(_))));
        }
        let long = format!(r#"{{"command":"{}"}}"#, "x".repeat(MAX_COMMAND + 1));
        assert!(exec_args(long.as_bytes()).is_err());
    }

    #[test]
    fn offsets() {
        assert_eq!(offset_arg("").unwrap(), None);
        assert_eq!(offset_arg("a=1&offset=42").unwrap(), Some(42));
        assert!(offset_arg("offset=-1").is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(m in "(GET|POST|DELETE)", p in "[/a-z0-9._-]{0,60}") {
            let _ = GuestCall::parse(&m, &p);
        }

        #[test]
        fn exec_bodies_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = exec_args(&b);
        }
    }
}
