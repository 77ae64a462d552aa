//! Kiln's own API beside JD's, on the same listener: `/kiln/v1/faults` (fault rules on
//! demand, see `service::fault`). Signed like every request, and allowed only to the
//! server's first account, the operator's; any other account gets 403.

use serde::Serialize;

use super::Reply;
use crate::error::{ApiError, ApiResult};
use crate::service::fault::{Fault, FaultSpec};
use crate::service::AccountRow;
use crate::service::Service;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KilnEndpoint {
    ListFaults,
    AddFault,
    DeleteFault { fault_id: String },
}

const FAULTS: &str = "/kiln/v1/faults";

impl KilnEndpoint {
    /// `None` for anything that is not one of Kiln's own paths.
    pub fn parse(method: &str, path: &str) -> Option<KilnEndpoint> {
        let rest = path.strip_prefix(FAULTS)?;
        match (method, rest.trim_end_matches('/')) {
            ("GET", "") => Some(KilnEndpoint::ListFaults),
            ("POST", "") => Some(KilnEndpoint::AddFault),
            ("DELETE", id) => id
                .strip_prefix('/')
                .filter(|id| !id.is_empty() && !id.contains('/'))
                .map(|id| KilnEndpoint::DeleteFault {
                    fault_id: id.to_string(),
                }),
            _ => None,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FaultList {
    faults: Vec<Fault>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FaultAdded {
    fault_id: String,
    fault: Fault,
}

pub async fn handle(
    svc: &Service,
    endpoint: KilnEndpoint,
    account: &AccountRow,
    body: &[u8],
) -> ApiResult<Reply> {
    if !svc.is_operator(&account.pin).await? {
        return Err(ApiError::PermissionDenied(
            "Only the server's first account may change its faults".into(),
        ));
    }
    match endpoint {
        KilnEndpoint::ListFaults => Reply::serialize(&FaultList {
            faults: svc.fault_list().await?,
        }),
        KilnEndpoint::AddFault => {
            let spec: FaultSpec = serde_json::from_slice(body)
                .map_err(|e| ApiError::InvalidArgument(format!("Invalid fault: {e}")))?;
            let fault = svc.fault_add(spec).await?;
            Reply::serialize(&FaultAdded {
                fault_id: fault.fault_id.clone(),
                fault,
            })
        }
        KilnEndpoint::DeleteFault { fault_id } => match svc.fault_clear(Some(&fault_id)).await? {
            0 => Err(ApiError::NotFound(format!("Fault '{fault_id}' not found"))),
            _ => Ok(Reply::Empty),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn paths() {
        use KilnEndpoint::*;
        assert_eq!(
            KilnEndpoint::parse("GET", "/kiln/v1/faults"),
            Some(ListFaults)
        );
        assert_eq!(
            KilnEndpoint::parse("GET", "/kiln/v1/faults/"),
            Some(ListFaults)
        );
        assert_eq!(
            KilnEndpoint::parse("POST", "/kiln/v1/faults"),
            Some(AddFault)
        );
        assert_eq!(
            KilnEndpoint::parse("DELETE", "/kiln/v1/faults/fault-abc"),
            Some(DeleteFault {
                fault_id: "fault-abc".into()
            })
        );
        assert_eq!(KilnEndpoint::parse("DELETE", "/kiln/v1/faults"), None);
        assert_eq!(KilnEndpoint::parse("DELETE", "/kiln/v1/faults/a/b"), None);
        assert_eq!(KilnEndpoint::parse("PUT", "/kiln/v1/faults"), None);
        assert_eq!(KilnEndpoint::parse("GET", "/v1/regions/r/images"), None);
        assert_eq!(KilnEndpoint::parse("GET", "/kiln/v1/faultsx"), None);
    }

    proptest! {
        #[test]
        fn parsing_never_panics(m in "(GET|POST|DELETE|PUT)", p in "[/a-z0-9:._-]{0,60}") {
            let _ = KilnEndpoint::parse(&m, &p);
        }
    }
}
