//! The vm Keypair model, field for field as the SDKs name it.

use schemars::JsonSchema;
use serde::Serialize;

use super::local_time;
use crate::service::keypair::KeypairListing;

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Keypair")]
pub struct KeypairView<'a> {
    key_name: &'a str,
    /// RFC 4716: MD5 of the public key blob, `xx:xx:…` (16 pairs).
    #[schemars(example = &"25:65:12:a8:2a:d9:03:79:a4:59:2a:ce:fe:00:aa:7f")]
    key_fingerprint: &'a str,
    /// `2020-12-08 16:52:02` (UTC+8).
    create_time: String,
    /// The instances using the key.
    instance_ids: &'a [String],
}

pub fn keypair(k: &KeypairListing) -> KeypairView<'_> {
    KeypairView {
        key_name: &k.row.name,
        key_fingerprint: &k.row.fingerprint,
        create_time: local_time(k.row.created_at),
        instance_ids: &k.instance_ids,
    }
}
