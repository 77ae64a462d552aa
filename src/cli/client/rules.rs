//! The short forms of disk rules on the command line.
//!
//! `--disk DEVICE=SPEC` (or `--disk SPEC`, letting the server pick the device), SPEC being
//! `:`-separated tokens in any order: a size (`30`, `30G`), a disk type (`ssd.gp1`, the
//! default; `hdd.std1`, `ssd.io1`, …), a snapshot id (`snapshot-…`), `auto-delete`.
//! `--exclude DEVICE` leaves a device out (`noDevice`). `--system-disk local` or
//! `--system-disk cloud[:TYPE][:SIZE]`.
//!
//! In `kiln image create`, a `--disk` whose device the instance has replaces that disk
//! in the image; a new device inserts a disk (blank, or from the snapshot).

use serde_json::{json, Map, Value};

use crate::service::spec::is_data_device_name;

pub const DEFAULT_DISK_TYPE: &str = "ssd.gp1";
pub const DEFAULT_DATA_DISK_GB: i64 = 20;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiskRule {
    pub device: Option<String>,
    pub disk_type: Option<String>,
    pub size_gb: Option<i64>,
    pub snapshot: Option<String>,
    pub auto_delete: bool,
}

fn parse_size(t: &str) -> Option<i64> {
    let digits = t
        .strip_suffix("GB")
        .or_else(|| t.strip_suffix("gb"))
        .or_else(|| t.strip_suffix('G'))
        .or_else(|| t.strip_suffix('g'))
        .unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn is_type(t: &str) -> bool {
    !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && t.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
}

/// A data device name (`vdb` … `vdbm`).
pub fn parse_device(s: &str) -> Result<String, String> {
    let d = s.trim();
    if is_data_device_name(d) {
        Ok(d.to_string())
    } else {
        Err(format!(
            "'{d}' is no data device name (vdb … vdz, vdaa … vdbm)"
        ))
    }
}

/// Tokens of a disk spec into `rule`.
fn tokens(rule: &mut DiskRule, spec: &str, whole: &str) -> Result<(), String> {
    for t in spec.split(':').map(str::trim).filter(|t| !t.is_empty()) {
        let dup = |what: &str| Err(format!("'{whole}': two {what}s"));
        if let Some(n) = parse_size(t) {
            if rule.size_gb.replace(n).is_some() {
                return dup("size");
            }
        } else if t.starts_with("snapshot-") {
            if rule.snapshot.replace(t.to_string()).is_some() {
                return dup("snapshot");
            }
        } else if t == "auto-delete" || t == "autodelete" {
            rule.auto_delete = true;
        } else if is_type(t) {
            if rule.disk_type.replace(t.to_string()).is_some() {
                return dup("disk type");
            }
        } else {
            return Err(format!(
                "'{whole}': '{t}' is neither a size, a disk type, a snapshot id nor auto-delete"
            ));
        }
    }
    Ok(())
}

/// `[DEVICE=]TOKEN[:TOKEN…]`, e.g. `vdd=30`, `vdd=hdd.std1:50`, `vde=snapshot-abc`,
/// `vdb=ssd.io1:40:snapshot-abc:auto-delete`.
pub fn parse_disk_rule(s: &str) -> Result<DiskRule, String> {
    let mut rule = DiskRule::default();
    let spec = match s.split_once('=') {
        Some((dev, spec)) => {
            rule.device = Some(parse_device(dev)?);
            spec
        }
        None => s,
    };
    tokens(&mut rule, spec, s)?;
    if rule.size_gb.is_none() && rule.snapshot.is_none() && rule.disk_type.is_none() {
        return Err(format!(
            "'{s}': say at least a size, a disk type or a snapshot (e.g. vdd=30)"
        ));
    }
    Ok(rule)
}

impl DiskRule {
    /// The InstanceDiskAttachmentSpec: type `ssd.gp1` unless given; size 20 GB unless
    /// given or taken from the snapshot (by the server).
    pub fn to_json(&self) -> Value {
        let mut cds = Map::new();
        cds.insert(
            "diskType".into(),
            json!(self.disk_type.as_deref().unwrap_or(DEFAULT_DISK_TYPE)),
        );
        match (self.size_gb, &self.snapshot) {
            (Some(n), _) => {
                cds.insert("diskSizeGB".into(), json!(n));
            }
            (None, None) => {
                cds.insert("diskSizeGB".into(), json!(DEFAULT_DATA_DISK_GB));
            }
            (None, Some(_)) => {}
        }
        if let Some(s) = &self.snapshot {
            cds.insert("snapshotId".into(), json!(s));
        }
        let mut v = json!({"diskCategory": "cloud", "cloudDiskSpec": Value::Object(cds)});
        if let Some(d) = &self.device {
            v["deviceName"] = json!(d);
        }
        if self.auto_delete {
            v["autoDelete"] = json!(true);
        }
        v
    }
}

/// `{"deviceName": d, "noDevice": true}`.
pub fn exclude_json(device: &str) -> Value {
    json!({"deviceName": device, "noDevice": true})
}

/// `local`, or `cloud[:TYPE][:SIZE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemDisk {
    Local,
    Cloud {
        disk_type: Option<String>,
        size_gb: Option<i64>,
    },
}

pub fn parse_system_disk(s: &str) -> Result<SystemDisk, String> {
    let (kind, rest) = s.split_once(':').unwrap_or((s, ""));
    match kind {
        "local" if rest.is_empty() => Ok(SystemDisk::Local),
        "local" => Err(format!("'{s}': a local system disk takes no type or size")),
        "cloud" => {
            let mut rule = DiskRule::default();
            tokens(&mut rule, rest, s)?;
            if rule.snapshot.is_some() || rule.auto_delete {
                return Err(format!("'{s}': only a type and a size go here"));
            }
            Ok(SystemDisk::Cloud {
                disk_type: rule.disk_type,
                size_gb: rule.size_gb,
            })
        }
        _ => Err(format!("'{s}': say local or cloud[:TYPE][:SIZE]")),
    }
}

impl SystemDisk {
    pub fn to_json(&self) -> Value {
        match self {
            SystemDisk::Local => json!({"diskCategory": "local"}),
            // Type and size left out follow the image (else ssd.gp1, its size).
            SystemDisk::Cloud { disk_type, size_gb } => {
                let mut cds = Map::new();
                if let Some(t) = disk_type {
                    cds.insert("diskType".into(), json!(t));
                }
                if let Some(n) = size_gb {
                    cds.insert("diskSizeGB".into(), json!(n));
                }
                if cds.is_empty() {
                    json!({"diskCategory": "cloud"})
                } else {
                    json!({"diskCategory": "cloud", "cloudDiskSpec": Value::Object(cds)})
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_rules() {
        let r = parse_disk_rule("vdd=30").unwrap();
        assert_eq!(
            r.to_json(),
            json!({"deviceName": "vdd", "diskCategory": "cloud",
                   "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 30}})
        );
        let r = parse_disk_rule("vde=snapshot-abc").unwrap();
        assert_eq!(
            r.to_json(),
            json!({"deviceName": "vde", "diskCategory": "cloud",
                   "cloudDiskSpec": {"diskType": "ssd.gp1", "snapshotId": "snapshot-abc"}})
        );
        let r = parse_disk_rule("vdb=snapshot-x:ssd.io1:40G:auto-delete").unwrap();
        assert_eq!(r.disk_type.as_deref(), Some("ssd.io1"));
        assert_eq!(r.size_gb, Some(40));
        assert!(r.auto_delete);
        assert_eq!(r.to_json()["autoDelete"], true);
        let r = parse_disk_rule("hdd.std1:50").unwrap();
        assert_eq!(r.device, None);
        assert!(r.to_json().get("deviceName").is_none());
        assert!(parse_disk_rule("vda=30").is_err());
        assert!(parse_disk_rule("vdd=").is_err());
        assert!(parse_disk_rule("vdd=30:40").is_err());
        assert!(parse_disk_rule("vdd=3%").is_err());
        assert_eq!(parse_device("vdbm").unwrap(), "vdbm");
        assert!(parse_device("vdbn").is_err());
    }

    #[test]
    fn system_disks() {
        assert_eq!(parse_system_disk("local").unwrap(), SystemDisk::Local);
        assert_eq!(
            parse_system_disk("cloud").unwrap().to_json(),
            json!({"diskCategory": "cloud"})
        );
        assert_eq!(
            parse_system_disk("cloud:ssd.io1:60").unwrap().to_json(),
            json!({"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.io1", "diskSizeGB": 60}})
        );
        assert!(parse_system_disk("local:40").is_err());
        assert!(parse_system_disk("tape").is_err());
    }
}
