//! Kiln's own API beside JD's, on the same listener: `/kiln/v1/faults` (fault rules on
//! demand, see `service::fault`), signed like every request and allowed only to the
//! server's first account, the operator's (any other account gets 403); and
//! `/kiln/v1/regions/{regionId}/instances/{id}/exec|console` for running guests, any
//! account on its own instances (`kiln_guest`).

use serde::Serialize;

use super::Reply;
use crate::error::{ApiError, ApiResult};
use crate::service::fault::{Fault, FaultSpec};
use crate::service::AccountRow;
use crate::service::Service;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KilnEndpoint {
    Fault(FaultCall),
    Guest(super::kiln_guest::GuestCall),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultCall {
    ListFaults,
    AddFault,
    DeleteFault { fault_id: String },
}

const FAULTS: &str = "/kiln/v1/faults";
const REGIONS: &str = "/kiln/v1/regions/";

impl KilnEndpoint {
    /// `None` for anything that is not one of Kiln's own paths.
    pub fn parse(method: &str, path: &str) -> Option<KilnEndpoint> {
        if let Some(rest) = path.strip_prefix(REGIONS) {
            return super::kiln_guest::GuestCall::parse(method, rest).map(KilnEndpoint::Guest);
        }
        let rest = path.strip_prefix(FAULTS)?;
        let call = match (method, rest.trim_end_matches('/')) {
            ("GET", "") => FaultCall::ListFaults,
            ("POST", "") => FaultCall::AddFault,
            ("DELETE", id) => FaultCall::DeleteFault {
                fault_id: id
                    .strip_prefix('/')
                    .filter(|id| !id.is_empty() && !id.contains('/'))?
                    .to_string(),
            },
            _ => return None,
        };
        Some(KilnEndpoint::Fault(call))
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
    query: &str,
    body: &[u8],
) -> ApiResult<Reply> {
    match endpoint {
        KilnEndpoint::Guest(call) => {
            super::kiln_guest::handle(svc, call, &account.pin, query, body).await
        }
        KilnEndpoint::Fault(call) => handle_faults(svc, call, account, body).await,
    }
}

/// The fault rules: the operator's only.
async fn handle_faults(
    svc: &Service,
    endpoint: FaultCall,
    account: &AccountRow,
    body: &[u8],
) -> ApiResult<Reply> {
    if !svc.is_operator(&account.pin).await? {
        return Err(ApiError::PermissionDenied(
            "Only the server's first account may change its faults".into(),
        ));
    }
    match endpoint {
        FaultCall::ListFaults => Reply::serialize(&FaultList {
            faults: svc.fault_list().await?,
        }),
        FaultCall::AddFault => {
            let spec: FaultSpec = serde_json::from_slice(body)
                .map_err(|e| ApiError::InvalidArgument(format!("Invalid fault: {e}")))?;
            let fault = svc.fault_add(spec).await?;
            Reply::serialize(&FaultAdded {
                fault_id: fault.fault_id.clone(),
                fault,
            })
        }
        FaultCall::DeleteFault { fault_id } => match svc.fault_clear(Some(&fault_id)).await? {
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
        use FaultCall::*;
        let fault = |c| Some(KilnEndpoint::Fault(c));
        assert_eq!(
            KilnEndpoint::parse("GET", "/kiln/v1/faults"),
            fault(ListFaults)
        );
        assert_eq!(
            KilnEndpoint::parse("GET", "/kiln/v1/faults/"),
            fault(ListFaults)
        );
        assert_eq!(
            KilnEndpoint::parse("POST", "/kiln/v1/faults"),
            fault(AddFault)
        );
        assert_eq!(
            KilnEndpoint::parse("DELETE", "/kiln/v1/faults/fault-abc"),
            fault(DeleteFault {
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
