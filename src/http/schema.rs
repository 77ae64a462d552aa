//! Schema pieces the derives cannot say by themselves: value sets that live in the catalog
//! (zones, instance and disk types), documented status values, and JD's always-empty lists
//! and objects (with the types views serialize them from).
//! Used as `#[schemars(schema_with = "…")]` on request and view fields.
//!
//! Statuses are documented here as strings with their values until each status is an enum
//! deriving `JsonSchema`; then the field's `schema_with` goes and the enum speaks for itself.

use crate::service::{AttachmentStatus, ImageTaskStatus};
use schemars::{json_schema, Schema, SchemaGenerator};

use crate::service::{catalog, spec};

/// A string taking one of `values`.
pub fn one_of(values: &[&str], description: &str) -> Schema {
    let mut s = json_schema!({"type": "string", "enum": values});
    if !description.is_empty() {
        s.insert("description".into(), description.into());
    }
    s
}

pub fn zone(_: &mut SchemaGenerator) -> Schema {
    let zones: Vec<String> = catalog::REGIONS
        .iter()
        .flat_map(|r| ["a", "b", "c"].map(|z| format!("{r}{z}")))
        .collect();
    let zones: Vec<&str> = zones.iter().map(String::as_str).collect();
    let mut s = one_of(&zones, "A zone of the path's region.");
    s.insert("example".into(), "cn-north-1a".into());
    s
}

pub fn instance_type(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = catalog::INSTANCE_TYPES.iter().map(|t| t.name).collect();
    one_of(&names, "")
}

pub fn disk_type(_: &mut SchemaGenerator) -> Schema {
    one_of(spec::DISK_TYPES, "")
}

pub fn charge_mode(_: &mut SchemaGenerator) -> Schema {
    one_of(
        &[
            "prepaid_by_duration",
            "postpaid_by_duration",
            "postpaid_by_usage",
        ],
        "",
    )
}

pub fn charge_on_stopped(_: &mut SchemaGenerator) -> Schema {
    one_of(
        &["keepCharging", "stopCharging"],
        "`stopCharging` only for a cloud system disk and postpaid_by_duration.",
    )
}

pub fn disk_format(_: &mut SchemaGenerator) -> Schema {
    one_of(&["qcow2", "vhd", "vmdk", "raw"], "")
}

pub fn disk_category(_: &mut SchemaGenerator) -> Schema {
    one_of(&["local", "cloud"], "")
}

pub fn root_device_type(_: &mut SchemaGenerator) -> Schema {
    one_of(&["localDisk", "cloudDisk"], "")
}

pub fn task_action(_: &mut SchemaGenerator) -> Schema {
    one_of(
        &["ImportImage", "ExportImage", "CopyImage", "ConvertImage"],
        "",
    )
}

/// An attachment's status; images show their devices with an empty one.
pub fn attachment_status(_: &mut SchemaGenerator) -> Schema {
    let states = AttachmentStatus::ALL.iter().map(|s| s.as_str());
    let all: Vec<&str> = states.chain([""]).collect();
    one_of(&all, "Empty in images.")
}

pub fn task_status(_: &mut SchemaGenerator) -> Schema {
    let all: Vec<&str> = ImageTaskStatus::ALL.iter().map(|s| s.as_str()).collect();
    one_of(&all, "")
}

/// A JSON object Kiln keeps as given (no fixed fields).
pub fn free_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "object"})
}

/// A list Kiln always answers empty (`tags`, `policies`, …).
pub fn empty_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "array", "maxItems": 0, "items": {"type": "object"}})
}

/// The view, or `{}` for none.
pub struct OrEmptyObject<T>(pub Option<T>);

impl<T: serde::Serialize> serde::Serialize for OrEmptyObject<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match &self.0 {
            Some(v) => v.serialize(s),
            None => s.serialize_map(Some(0))?.end(),
        }
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for OrEmptyObject<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("OrEmpty{}", T::schema_name()).into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [g.subschema_for::<T>(), {"type": "object", "maxProperties": 0}],
        })
    }
}

/// An always-empty JSON array (`tags`, `policies`, …).
#[derive(serde::Serialize)]
pub struct Empty([(); 0]);

impl schemars::JsonSchema for Empty {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Empty".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        empty_list(g)
    }
}

pub const NONE: Empty = Empty([]);
