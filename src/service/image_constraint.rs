//! describeImageConstraints: which instance types an image may run on. Only public images
//! carry constraints (JD: public and third-party); createInstances enforces them.

use schemars::JsonSchema;
use serde::Serialize;

use super::catalog::{self, InstanceType};
use super::{Scope, Service};
use crate::error::{ApiError, ApiResult};

/// An image's constraint as describeImageConstraints answers it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageConstraint {
    pub image_id: String,
    /// None for an image without constraints.
    pub image_instance_type_constraint: Option<InstanceTypeConstraint>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceTypeConstraint {
    pub constraints_type: ConstraintsType,
    pub instance_types: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConstraintsType {
    /// The image runs on every type but these.
    Excludes,
    /// The image runs on these types only.
    Includes,
}

impl Service {
    /// The constraint of an image the caller may see (404 otherwise).
    pub async fn image_constraint(&self, scope: &Scope, id: &str) -> ApiResult<ImageConstraint> {
        self.image_fetch(scope, id).await?;
        Ok(constraint_of(id))
    }
}

/// The constraint of image `id` (public images only carry one).
pub fn constraint_of(id: &str) -> ImageConstraint {
    let public = catalog::PUBLIC_IMAGES
        .iter()
        .chain([&catalog::KILN_LINUX])
        .find(|p| p.id == id);
    ImageConstraint {
        image_id: id.to_string(),
        image_instance_type_constraint: public.filter(|p| !p.excluded_types.is_empty()).map(|p| {
            InstanceTypeConstraint {
                constraints_type: ConstraintsType::Excludes,
                instance_types: p.excluded_types.iter().map(|t| t.to_string()).collect(),
            }
        }),
    }
}

/// createInstances' check: the image's constraint allows the instance type.
pub fn check_instance_type(image_id: &str, itype: &InstanceType) -> ApiResult<()> {
    let allowed = match constraint_of(image_id).image_instance_type_constraint {
        None => true,
        Some(c) => {
            let listed = c.instance_types.iter().any(|t| t == itype.name);
            match c.constraints_type {
                ConstraintsType::Excludes => !listed,
                ConstraintsType::Includes => listed,
            }
        }
    };
    if allowed {
        return Ok(());
    }
    Err(ApiError::FailedPrecondition(format!(
        "Image constraints. Instance type '{}' not supported",
        itype.name
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_excludes_the_smallest_type_and_private_images_have_none() {
        let small = catalog::instance_type("g.n2.medium").unwrap();
        let large = catalog::instance_type("g.n2.large").unwrap();
        assert!(check_instance_type("img-winsrv2019", small).is_err());
        assert!(check_instance_type("img-winsrv2019", large).is_ok());
        assert!(check_instance_type("img-ubuntu2204", small).is_ok());
        assert!(check_instance_type("img-private1", small).is_ok());
        assert!(constraint_of("img-private1")
            .image_instance_type_constraint
            .is_none());
    }
}
