//! Faults on demand, for people testing their own code against Kiln: operator rules that
//! make matching calls answer a JD error, answer late, or have their asynchronous work end
//! in `error` or stay in flight longer (what LocalStack sells as its Chaos API).
//!
//! Rules live in the database (`faults`), so every node of a cluster and every later start
//! sees them; `kiln admin fault …` and `/kiln/v1/faults` change them and touch
//! `<data-dir>/faults.stamp`, which each server looks at before it uses its cached rules, so
//! a change applies from the next request. A rule fires with its probability; a rule with
//! a count is spent after firing that many times (counted in the database, so a count holds
//! across nodes).

use std::sync::{Arc, Mutex};

use rand::Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::time::Duration;

use super::stamp::{Stamp, StampFile};
use super::Service;
use crate::error::{ApiError, ApiResult};
use crate::store::FaultRow;
use crate::store::{self, now_ms};
use crate::tasks::TaskFault;

/// What a rule does to a matching call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum FaultEffect {
    /// Answer with this JD error envelope (a requestId added) and change nothing.
    #[serde(rename_all = "camelCase")]
    Error {
        code: u16,
        status: String,
        message: String,
    },
    /// Answer this much later.
    #[serde(rename_all = "camelCase")]
    Delay { delay_ms: u64 },
    /// Accept the call; its asynchronous work ends in `error`, as a real failure would.
    #[serde(rename_all = "camelCase")]
    TaskError { message: String },
    /// Accept the call; its asynchronous work stays in flight this much longer.
    #[serde(rename_all = "camelCase")]
    TaskStall { stall_ms: u64 },
}

/// A rule as the operator writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    /// The API's action as the SDKs spell it (`createImage`, `describeImages`, …), or `*`.
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// The chance that one matching call fires the rule (default 1).
    #[serde(default = "always")]
    pub probability: f64,
    /// Fire at most this many times (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    pub effect: FaultEffect,
}

fn always() -> f64 {
    1.0
}

/// A stored rule and how often it has fired.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    pub fault_id: String,
    #[serde(flatten)]
    pub spec: FaultSpec,
    pub fired: u64,
}

/// What a fired rule does to its call.
#[derive(Debug)]
pub enum OnCall {
    /// Answer this error; nothing is done.
    Fail(ApiError),
    /// Handle the call this much later.
    Delay(Duration),
    /// Handle the call; the tasks it makes carry this fault.
    Tasks(TaskFault),
}

/// A rule that fired for a call.
#[derive(Debug, Clone)]
pub struct Fired {
    pub fault_id: String,
    pub effect: FaultEffect,
}

impl FaultEffect {
    /// `--error CODE:STATUS[:MESSAGE]`: a JD error of HTTP code 400–599.
    pub fn parse_error(arg: &str) -> Result<FaultEffect, String> {
        let mut parts = arg.splitn(3, ':');
        let code = parts.next().unwrap_or_default().trim();
        let code: u16 = code
            .parse()
            .ok()
            .filter(|c| (400..=599).contains(c))
            .ok_or_else(|| format!("'{code}' is not an HTTP error code (400-599)"))?;
        let status = parts.next().unwrap_or_default().trim();
        if status.is_empty()
            || !status
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c == ' ')
        {
            return Err(format!(
                "'{status}' is not a JD status (capitals and underscores: SERVICE_UNAVAILABLE)"
            ));
        }
        let message = parts
            .next()
            .map(str::to_string)
            .unwrap_or_else(|| "Injected fault".into());
        Ok(FaultEffect::Error {
            code,
            status: status.to_string(),
            message,
        })
    }

    /// What the effect does to the call it fired for.
    pub fn on_call(&self) -> OnCall {
        match self {
            FaultEffect::Error {
                code,
                status,
                message,
            } => OnCall::Fail(ApiError::Injected {
                code: *code,
                status: status.clone(),
                message: message.clone(),
            }),
            FaultEffect::Delay { delay_ms } => OnCall::Delay(Duration::from_millis(*delay_ms)),
            FaultEffect::TaskError { message } => OnCall::Tasks(TaskFault::Error {
                message: message.clone(),
            }),
            FaultEffect::TaskStall { stall_ms } => {
                OnCall::Tasks(TaskFault::Stall { ms: *stall_ms })
            }
        }
    }

    fn is_task_effect(&self) -> bool {
        matches!(
            self,
            FaultEffect::TaskError { .. } | FaultEffect::TaskStall { .. }
        )
    }
}

impl FaultSpec {
    /// The rule's own sense, whoever sent it.
    pub fn validate(&self) -> Result<(), String> {
        let op_ok = self.operation == "*"
            || (!self.operation.is_empty()
                && self.operation.len() <= 64
                && self.operation.chars().all(|c| c.is_ascii_alphanumeric()));
        if !op_ok {
            return Err(format!(
                "operation '{}' is not an action name (createImage, …) or *",
                self.operation
            ));
        }
        if !(self.probability > 0.0 && self.probability <= 1.0) {
            return Err(format!("probability {} is not in (0, 1]", self.probability));
        }
        if self.count == Some(0) {
            return Err("count must be at least 1".into());
        }
        if let FaultEffect::Error { code, .. } = &self.effect {
            FaultEffect::parse_error(&format!("{code}:X"))?;
        }
        Ok(())
    }

    fn matches(&self, operation: &str, region: &str, pin: &str) -> bool {
        (self.operation == "*" || self.operation == operation)
            && self.region.as_deref().is_none_or(|r| r == region)
            && self.pin.as_deref().is_none_or(|p| p == pin)
    }
}

impl Fault {
    fn from_row(row: FaultRow) -> Option<Fault> {
        let spec = serde_json::from_str(&row.spec)
            .inspect_err(|e| tracing::warn!("fault {} is unreadable, ignored: {e}", row.id))
            .ok()?;
        Some(Fault {
            fault_id: row.id,
            spec,
            fired: u64::try_from(row.fired).unwrap_or(0),
        })
    }

    fn spent(&self) -> bool {
        self.spec.count.is_some_and(|n| self.fired >= n)
    }
}

/// The rules as this server last read them, valid while the stamp is unchanged.
pub struct FaultBook {
    stamp: StampFile,
    cached: Mutex<Option<(Stamp, Arc<Vec<Fault>>)>>,
}

impl FaultBook {
    pub fn new(data_dir: &std::path::Path) -> FaultBook {
        FaultBook {
            stamp: StampFile::new(data_dir, "faults.stamp"),
            cached: Mutex::new(None),
        }
    }

    fn get(&self, stamp: &Stamp) -> Option<Arc<Vec<Fault>>> {
        let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        cached
            .as_ref()
            .filter(|(s, _)| s == stamp)
            .map(|(_, f)| f.clone())
    }

    fn put(&self, stamp: Stamp, faults: Arc<Vec<Fault>>) {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some((stamp, faults));
    }
}

impl Service {
    /// The rules in force (read from the database only after a change).
    async fn faults_in_force(&self) -> ApiResult<Arc<Vec<Fault>>> {
        let stamp = self.faults.stamp.current();
        if let Some(f) = self.faults.get(&stamp) {
            return Ok(f);
        }
        let mut conn = self.store.read().await?;
        let rows = store::fault::fault_list(&mut conn).await?;
        let faults: Arc<Vec<Fault>> =
            Arc::new(rows.into_iter().filter_map(Fault::from_row).collect());
        self.faults.put(stamp, faults.clone());
        Ok(faults)
    }

    /// The rule that fires for this call, if any: the first matching, unspent rule whose
    /// draw succeeds and whose count the database still allows.
    pub async fn fault_for_call(
        &self,
        operation: &str,
        region: &str,
        pin: &str,
    ) -> ApiResult<Option<Fired>> {
        let faults = self.faults_in_force().await?;
        for f in faults.iter() {
            if f.spent() || !f.spec.matches(operation, region, pin) {
                continue;
            }
            if f.spec.probability < 1.0 && !rand::thread_rng().gen_bool(f.spec.probability) {
                continue;
            }
            let mut tx = self.store.write().await?;
            let fired = store::fault::fault_fire(&mut tx, &f.fault_id, f.spec.count).await?;
            tx.commit().await?;
            if !fired {
                continue; // spent meanwhile (another node, another request)
            }
            return Ok(Some(Fired {
                fault_id: f.fault_id.clone(),
                effect: f.spec.effect.clone(),
            }));
        }
        Ok(None)
    }

    /// Whether any rule makes asynchronous work fail or stall (the task worker looks for
    /// injected task faults only then).
    pub async fn has_task_faults(&self) -> ApiResult<bool> {
        Ok(self
            .faults_in_force()
            .await?
            .iter()
            .any(|f| f.spec.effect.is_task_effect() && !f.spent()))
    }

    pub async fn fault_add(&self, spec: FaultSpec) -> ApiResult<Fault> {
        spec.validate().map_err(ApiError::InvalidArgument)?;
        let row = FaultRow {
            id: format!("fault-{}", crate::ids::random_suffix(10)),
            spec: serde_json::to_string(&spec).map_err(ApiError::internal)?,
            fired: 0,
            created_at: now_ms(),
        };
        let mut tx = self.store.write().await?;
        store::fault::fault_insert(&mut tx, &row).await?;
        tx.commit().await?;
        self.faults_changed();
        Ok(Fault {
            fault_id: row.id,
            spec,
            fired: 0,
        })
    }

    pub async fn fault_list(&self) -> ApiResult<Vec<Fault>> {
        let mut conn = self.store.read().await?;
        let rows = store::fault::fault_list(&mut conn).await?;
        Ok(rows.into_iter().filter_map(Fault::from_row).collect())
    }

    /// Removes one rule (`Some(id)`), or all; how many were removed.
    pub async fn fault_clear(&self, id: Option<&str>) -> ApiResult<u64> {
        let mut tx = self.store.write().await?;
        let n = store::fault::fault_delete(&mut tx, id).await?;
        tx.commit().await?;
        self.faults_changed();
        Ok(n)
    }

    fn faults_changed(&self) {
        *self.faults.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if let Err(e) = self.faults.stamp.touch() {
            tracing::warn!("touching faults.stamp failed (other nodes see the change late): {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn error_arguments() {
        assert_eq!(
            FaultEffect::parse_error("503:SERVICE_UNAVAILABLE:try later").unwrap(),
            FaultEffect::Error {
                code: 503,
                status: "SERVICE_UNAVAILABLE".into(),
                message: "try later".into()
            }
        );
        assert_eq!(
            FaultEffect::parse_error("400:INVALID_ARGUMENT:a: b").unwrap(),
            FaultEffect::Error {
                code: 400,
                status: "INVALID_ARGUMENT".into(),
                message: "a: b".into()
            }
        );
        let FaultEffect::Error { message, .. } = FaultEffect::parse_error("500:INTERNAL").unwrap()
        else {
            unreachable!()
        };
        assert_eq!(message, "Injected fault");
        for bad in ["", "200:OK", "600:X", "abc:X", "503", "503:", "503:lower"] {
            assert!(FaultEffect::parse_error(bad).is_err(), "{bad}");
        }
    }

    fn spec(operation: &str) -> FaultSpec {
        FaultSpec {
            operation: operation.into(),
            region: None,
            pin: None,
            probability: 1.0,
            count: None,
            effect: FaultEffect::Delay { delay_ms: 1 },
        }
    }

    #[test]
    fn matching_by_operation_region_and_pin() {
        assert!(spec("*").matches("createImage", "r", "p"));
        assert!(spec("createImage").matches("createImage", "r", "p"));
        assert!(!spec("createImage").matches("describeImages", "r", "p"));
        let mut s = spec("*");
        s.region = Some("cn-north-1".into());
        s.pin = Some("kiln-a".into());
        assert!(s.matches("x", "cn-north-1", "kiln-a"));
        assert!(!s.matches("x", "cn-east-2", "kiln-a"));
        assert!(!s.matches("x", "cn-north-1", "kiln-b"));
    }

    #[test]
    fn validation() {
        assert!(spec("createImage").validate().is_ok());
        assert!(spec("*").validate().is_ok());
        assert!(spec("create-image").validate().is_err());
        assert!(spec("").validate().is_err());
        let mut s = spec("*");
        s.probability = 0.0;
        assert!(s.validate().is_err());
        s.probability = 1.5;
        assert!(s.validate().is_err());
        let mut s = spec("*");
        s.count = Some(0);
        assert!(s.validate().is_err());
    }

    #[test]
    fn the_wire_form() {
        let s: FaultSpec = serde_json::from_str(
            r#"{"operation":"createImage","count":2,
                "effect":{"kind":"error","code":503,"status":"SERVICE_UNAVAILABLE","message":"m"}}"#,
        )
        .unwrap();
        assert_eq!(s.probability, 1.0);
        assert_eq!(s.count, Some(2));
        let back: FaultSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        let stall: FaultSpec = serde_json::from_str(
            r#"{"operation":"*","effect":{"kind":"taskStall","stallMs":30000}}"#,
        )
        .unwrap();
        assert_eq!(stall.effect, FaultEffect::TaskStall { stall_ms: 30000 });
        assert!(serde_json::from_str::<FaultSpec>(r#"{"operation":"*"}"#).is_err());
        assert!(
            serde_json::from_str::<FaultSpec>(r#"{"operation":"*","effect":{"kind":"boom"}}"#)
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn error_parsing_never_panics(s in ".{0,80}") {
            let _ = FaultEffect::parse_error(&s);
        }

        #[test]
        fn spec_decoding_never_panics(s in ".{0,200}") {
            if let Ok(spec) = serde_json::from_str::<FaultSpec>(&s) {
                let _ = spec.validate();
            }
        }
    }
}
