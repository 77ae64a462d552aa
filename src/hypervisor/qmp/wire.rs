//! One line of QMP, as QEMU writes it: a pure parser, so the reader task has nothing to get
//! wrong but routing, and malformed input is tested without a QEMU.

use serde_json::Value;

use super::{QmpError, QmpEvent};

/// What a line from QEMU is.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// `{"QMP":{"version":…,"capabilities":…}}`, once, first.
    Greeting { version: Value },
    /// `{"return":…,"id":…}`; `id` is whatever the command carried (absent if it had none).
    Return { id: Option<Value>, value: Value },
    /// `{"error":{"class":…,"desc":…},"id":…}`.
    Error {
        id: Option<Value>,
        class: String,
        desc: String,
    },
    /// `{"event":…,"data":…,"timestamp":{"seconds":…,"microseconds":…}}`.
    Event(QmpEvent),
}

/// Parses one line (with or without its `\n`).
pub fn parse_line(line: &[u8]) -> Result<Incoming, QmpError> {
    let bad = |why: &str| QmpError::Protocol(format!("{why}: {}", String::from_utf8_lossy(line)));
    let v: Value = serde_json::from_slice(line).map_err(|e| bad(&format!("not JSON ({e})")))?;
    let Value::Object(mut obj) = v else {
        return Err(bad("not a JSON object"));
    };
    let id = obj.remove("id");
    if let Some(value) = obj.remove("return") {
        return Ok(Incoming::Return { id, value });
    }
    if let Some(err) = obj.remove("error") {
        let text = |k: &str| err.get(k).and_then(Value::as_str).map(str::to_owned);
        let (Some(class), Some(desc)) = (text("class"), text("desc")) else {
            return Err(bad("error without class and desc"));
        };
        return Ok(Incoming::Error { id, class, desc });
    }
    if let Some(name) = obj.remove("event") {
        let Value::String(name) = name else {
            return Err(bad("event name not a string"));
        };
        let data = obj.remove("data").unwrap_or(Value::Null);
        let at_micros = obj.get("timestamp").map_or(0, timestamp_micros);
        return Ok(Incoming::Event(QmpEvent {
            name,
            data,
            at_micros,
        }));
    }
    if let Some(qmp) = obj.remove("QMP") {
        if let Some(version) = qmp.get("version") {
            return Ok(Incoming::Greeting {
                version: version.clone(),
            });
        }
        return Err(bad("greeting without QMP.version"));
    }
    Err(bad("neither return, error, event nor greeting"))
}

/// QEMU's event time (microseconds since the epoch); `{-1,-1}` when it had no clock.
fn timestamp_micros(ts: &Value) -> i64 {
    let field = |k: &str| ts.get(k).and_then(Value::as_i64).unwrap_or(0);
    field("seconds")
        .saturating_mul(1_000_000)
        .saturating_add(field("microseconds"))
}

/// The line Kiln sends for command `name` with arguments `args` (an object, or null/empty
/// for none) and its routing `id`.
pub fn command_line(name: &str, args: Value, id: u64) -> Vec<u8> {
    let mut cmd = serde_json::json!({ "execute": name, "id": id });
    let has_args = match &args {
        Value::Object(m) => !m.is_empty(),
        Value::Null => false,
        _ => true,
    };
    if has_args {
        cmd["arguments"] = args;
    }
    let mut line = serde_json::to_vec(&cmd).expect("a JSON value serializes");
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn parse(v: Value) -> Incoming {
        parse_line(&serde_json::to_vec(&v).unwrap()).unwrap()
    }

    #[test]
    fn each_kind_of_line() {
        let greeting = json!({"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": ["oob"]}});
        assert_eq!(
            parse(greeting),
            Incoming::Greeting {
                version: json!({"qemu": {"major": 7}})
            }
        );
        assert_eq!(
            parse(json!({"return": {}, "id": 7})),
            Incoming::Return {
                id: Some(json!(7)),
                value: json!({})
            }
        );
        let err = json!({"id": 3, "error": {"class": "DeviceNotFound", "desc": "no such"}});
        assert_eq!(
            parse(err),
            Incoming::Error {
                id: Some(json!(3)),
                class: "DeviceNotFound".into(),
                desc: "no such".into()
            }
        );
        let ev = json!({"event": "SHUTDOWN", "data": {"guest": false},
                        "timestamp": {"seconds": 2, "microseconds": 5}});
        let Incoming::Event(ev) = parse(ev) else {
            panic!("not an event")
        };
        assert_eq!((ev.name.as_str(), ev.at_micros), ("SHUTDOWN", 2_000_005));
        assert_eq!(ev.data, json!({"guest": false}));
    }

    #[test]
    fn malformed_lines_are_protocol_errors() {
        for line in [
            &b"not json"[..],
            b"[1,2]",
            b"{}",
            b"{\"error\": {\"class\": 1}}",
            b"{\"event\": 5}",
            b"{\"QMP\": {}}",
        ] {
            assert!(matches!(parse_line(line), Err(QmpError::Protocol(_))));
        }
    }

    #[test]
    fn commands_carry_arguments_only_when_there_are_some() {
        let line = command_line("stop", Value::Null, 4);
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v, json!({"execute": "stop", "id": 4}));
        assert_eq!(line.last(), Some(&b'\n'));
        let line = command_line("device_del", json!({"id": "vdb"}), 5);
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["arguments"], json!({"id": "vdb"}));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_line(&bytes);
        }

        #[test]
        fn well_formed_lines_round_trip(
            id in any::<u64>(),
            n in any::<i64>(),
            text in ".{0,20}",
            secs in 0i64..4_000_000_000,
            micros in 0i64..1_000_000,
        ) {
            let value = json!({"k": text.clone(), "n": n});
            prop_assert_eq!(
                parse(json!({"return": value.clone(), "id": id})),
                Incoming::Return { id: Some(json!(id)), value: value.clone() }
            );
            prop_assert_eq!(
                parse(json!({"error": {"class": text.clone(), "desc": text.clone()}, "id": id})),
                Incoming::Error { id: Some(json!(id)), class: text.clone(), desc: text.clone() }
            );
            let ev = json!({"event": text.clone(), "data": value.clone(),
                            "timestamp": {"seconds": secs, "microseconds": micros}});
            prop_assert_eq!(
                parse(ev),
                Incoming::Event(QmpEvent { name: text, data: value, at_micros: secs * 1_000_000 + micros })
            );
        }
    }
}
