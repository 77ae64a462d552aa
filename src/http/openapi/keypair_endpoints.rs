//! The vm service's key pair endpoints in OpenAPI (see `endpoints` for the others). A key
//! pair is named by its `keyName`, which is also what createKeypair and importKeypair make.

use super::endpoints::{inline, schema, Answer, Doc};
use crate::http::endpoint::{Endpoint, ServiceName::Vm};
use crate::http::handlers::{keypair, Paging};
use crate::http::views::keypair as views;

pub(super) const SAMPLE_KEY_NAME: &str = "my-key";

/// One value of every key pair `Endpoint` variant.
pub fn representatives() -> Vec<Endpoint> {
    use Endpoint::*;
    let k = || SAMPLE_KEY_NAME.to_string();
    vec![
        CreateKeypair,
        ImportKeypair,
        DescribeKeypairs,
        DeleteKeypair { key_name: k() },
        AttachKeypair { key_name: k() },
        DetachKeypair { key_name: k() },
    ]
}

/// The documentation of one key pair endpoint (`endpoints::doc` sends each here).
pub fn doc(e: &Endpoint) -> Doc {
    use Endpoint::*;
    const KEYPAIRS: &str = "/v1/regions/{regionId}/keypairs";
    const KEYPAIR: &str = "/v1/regions/{regionId}/keypairs/{keyName}";
    let d = |method, path, summary| Doc {
        method,
        path,
        operation_id: e.action(),
        service: Vm,
        summary,
        description: "",
        query: vec![],
        body: None,
        result: Answer::Nothing,
        creates: None,
    };
    match e {
        CreateKeypair => Doc {
            description: "A new RSA 2048 key; the private key is answered once and not kept. \
                 At most 20 key pairs per account and region (`--quota keypair=N`); a name \
                 in use answers 400 FAILED_PRECONDITION `KeyName 'x' already in use`.",
            body: Some((schema::<keypair::CreateKeypair>, true)),
            result: Answer::One(schema::<keypair::CreateKeypairResult>),
            creates: Some(("keyName", "/result/keyName")),
            ..d("POST", KEYPAIRS, "Create a key pair")
        },
        ImportKeypair => Doc {
            description: "The public half of a key made elsewhere (OpenSSH format). Names \
                 and quota as createKeypair.",
            body: Some((schema::<keypair::ImportKeypair>, true)),
            result: Answer::One(schema::<keypair::ImportKeypairResult>),
            creates: Some(("keyName", "/result/keyName")),
            ..d(
                "POST",
                "/v1/regions/{regionId}/keypairs:import",
                "Import a public key",
            )
        },
        DescribeKeypairs => Doc {
            query: vec![inline::<Paging>, inline::<keypair::DescribeKeypairs>],
            result: Answer::List("keypairs", schema::<views::KeypairView>),
            ..d("GET", KEYPAIRS, "List key pairs")
        },
        DeleteKeypair { .. } => Doc {
            description: "Instances using it keep running and show no key afterwards.",
            ..d("DELETE", KEYPAIR, "Delete a key pair")
        },
        AttachKeypair { .. } => Doc {
            description: "Linux instances, `running` or `stopped`, without another key (one \
                 key per instance). All of them or none.",
            body: Some((schema::<keypair::AttachKeypair>, true)),
            result: Answer::One(schema::<keypair::KeypairBindingResult>),
            ..d(
                "POST",
                "/v1/regions/{regionId}/keypairs/{keyName}:attach",
                "Give instances a key pair",
            )
        },
        DetachKeypair { .. } => Doc {
            description: "Instances that have this key, `running` or `stopped`. All of them \
                 or none.",
            body: Some((schema::<keypair::DetachKeypair>, true)),
            result: Answer::One(schema::<keypair::KeypairBindingResult>),
            ..d(
                "POST",
                "/v1/regions/{regionId}/keypairs/{keyName}:detach",
                "Take a key pair from instances",
            )
        },
        other => unreachable!("{} is not a key pair endpoint", other.action()),
    }
}
