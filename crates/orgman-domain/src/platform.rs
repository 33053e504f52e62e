//! The platform's own surfaces, outside any organization: what only
//! platform administrators see (every component's state, every
//! dependency's health details).

use crate::errors::use_case::OrgError;
use crate::members::actor::Actor;

/// Something only platform administrators may see or do, outside any
/// organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformView {
    /// The state of the platform's other components.
    Components,
    /// The dependencies behind the service's health, with their details.
    HealthDetails,
}

impl PlatformView {
    /// Whether `actor` may see this.
    ///
    /// # Errors
    /// [`OrgError::PlatformAdminRequired`] for anybody but a platform
    /// administrator.
    pub fn authorize(self, actor: &Actor) -> Result<(), OrgError> {
        if actor.is_platform_admin() {
            Ok(())
        } else {
            Err(OrgError::PlatformAdminRequired)
        }
    }
}
