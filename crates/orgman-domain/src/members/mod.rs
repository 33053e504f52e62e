//! Members and roles: who belongs to an organization with which role, the
//! permissions a role grants, and the rules every membership change obeys
//! (only an OWNER makes an OWNER, the last OWNER stays).

pub(crate) mod actor;
pub(crate) mod custom_role;
pub(crate) mod directory;
pub(crate) mod permission;
pub(crate) mod role;
pub(crate) mod rules;
