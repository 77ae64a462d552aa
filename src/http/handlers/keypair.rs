//! vm key pairs: createKeypair, importKeypair, describeKeypairs, deleteKeypair,
//! attachKeypair / detachKeypair.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Paging;
use crate::error::ApiResult;
use crate::http::params::Filters;
use crate::http::views::keypair::{self as views};
use crate::http::{Call, Reply};
use crate::service::keypair::KeypairBindResult;
use crate::service::Service;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateKeypair {
    /// 1–32 of letters, digits, `_`, `-`; unique in the account and region.
    #[schemars(required, regex(pattern = r"^[A-Za-z0-9_-]{1,32}$"), example = &"my-key")]
    pub key_name: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateKeypairResult<'a> {
    pub key_name: &'a str,
    /// The new RSA 2048 key, PEM (`-----BEGIN RSA PRIVATE KEY-----`). Shown this once:
    /// Kiln keeps only the public half.
    pub private_key: &'a str,
    /// RFC 4716: MD5 of the public key blob, `xx:xx:…`.
    pub key_fingerprint: &'a str,
}

pub async fn create_keypair(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: CreateKeypair = call.params.decode()?;
    let made = svc.keypair_create(&call.scope, r.key_name).await?;
    Reply::serialize(&CreateKeypairResult {
        key_name: &made.key_name,
        private_key: &made.private_key,
        key_fingerprint: &made.fingerprint,
    })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportKeypair {
    /// 1–32 of letters, digits, `_`, `-`; unique in the account and region.
    #[schemars(required, regex(pattern = r"^[A-Za-z0-9_-]{1,32}$"), example = &"my-key")]
    pub key_name: Option<String>,
    /// One OpenSSH public key line: `ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp256/384/521 AAAA…
    /// [comment]`; anything else answers 400 FAILED_PRECONDITION `Malformed PublicKey …`.
    #[schemars(
        required,
        example = &"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti me@host"
    )]
    pub public_key: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportKeypairResult {
    pub key_name: String,
    /// RFC 4716: MD5 of the public key blob, `xx:xx:…`.
    pub key_fingerprint: String,
}

pub async fn import_keypair(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: ImportKeypair = call.params.decode()?;
    let (key_name, key_fingerprint) = svc
        .keypair_import(&call.scope, r.key_name, r.public_key)
        .await?;
    Reply::serialize(&ImportKeypairResult {
        key_name,
        key_fingerprint,
    })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct KeypairFilters {
    /// Exact names, any of them.
    pub key_names: Vec<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DescribeKeypairs {
    pub filters: Option<Filters<KeypairFilters>>,
}

pub async fn describe_keypairs(svc: &Service, call: Call) -> ApiResult<Reply> {
    let page = call.params.decode::<Paging>()?.page()?;
    let r: DescribeKeypairs = call.params.decode()?;
    let f = r.filters.map(|f| f.0).unwrap_or_default();
    let (list, total) = svc.keypair_list(&call.scope, &f.key_names, page).await?;
    Reply::list("keypairs", list.iter().map(views::keypair).collect(), total)
}

pub async fn delete_keypair(svc: &Service, call: Call, name: &str) -> ApiResult<Reply> {
    svc.keypair_delete(&call.scope, name).await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachKeypair {
    #[serde(default)]
    #[schemars(required, example = ["i-sample"])]
    pub instance_ids: Vec<String>,
    /// `yes` or `no`: whether SSH still takes the password once the key is on.
    #[schemars(example = &"yes")]
    pub pass_word_auth: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DetachKeypair {
    #[serde(default)]
    #[schemars(required, example = ["i-sample"])]
    pub instance_ids: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeypairBindingResult {
    pub success_instance_id: Vec<String>,
    /// Always empty: Kiln refuses a call whole with the first instance's error.
    pub fail_instance_id: Vec<String>,
}

impl From<KeypairBindResult> for KeypairBindingResult {
    fn from(r: KeypairBindResult) -> Self {
        KeypairBindingResult {
            success_instance_id: r.succeeded,
            fail_instance_id: r.failed,
        }
    }
}

pub async fn attach_keypair(svc: &Service, call: Call, name: &str) -> ApiResult<Reply> {
    let r: AttachKeypair = call.params.decode()?;
    let done = svc
        .keypair_attach(&call.scope, name, r.instance_ids, r.pass_word_auth)
        .await?;
    Reply::serialize(&KeypairBindingResult::from(done))
}

pub async fn detach_keypair(svc: &Service, call: Call, name: &str) -> ApiResult<Reply> {
    let r: DetachKeypair = call.params.decode()?;
    let done = svc
        .keypair_detach(&call.scope, name, r.instance_ids)
        .await?;
    Reply::serialize(&KeypairBindingResult::from(done))
}
