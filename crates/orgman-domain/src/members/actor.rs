//! Who is acting: [`Actor`], a person with their platform role and how
//! they signed in, or an organization's API key.

use crate::keys::model::KeyGrant;
use crate::members::role::SystemRole;
use crate::sso::sign_in::SignIn;
use crate::values::actor::ActorRef;
use crate::values::id::{RequestId, UserId};

/// The authenticated caller on whose behalf a use case runs: a person, or
/// an organization's API key ([`Actor::api_key`]).
///
/// It is built by the caller (the HTTP edge builds it from a verified token
/// or key) and passed explicitly: the domain never reads ambient,
/// thread-local state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    user_id: UserId,
    system_role: SystemRole,
    request_id: Option<RequestId>,
    sign_in: SignIn,
    key: Option<KeyGrant>,
    directory: bool,
}

impl Actor {
    /// An actor with the given platform role.
    pub const fn new(user_id: UserId, system_role: SystemRole) -> Self {
        Self {
            user_id,
            system_role,
            request_id: None,
            sign_in: SignIn::EMPTY,
            key: None,
            directory: false,
        }
    }

    /// An organization's API key acting: in its organization only, with
    /// its permissions only, and under the membership rules as an ADMIN
    /// (it never touches OWNERs). It is never a member and never a
    /// platform administrator; [`Actor::user_id`] is then the key's id,
    /// which no membership has.
    pub fn api_key(grant: KeyGrant) -> Self {
        Self {
            user_id: UserId::from_uuid(grant.key.as_uuid()),
            system_role: SystemRole::User,
            request_id: None,
            sign_in: SignIn::EMPTY,
            key: Some(grant),
            directory: false,
        }
    }

    /// An organization's directory provisioning over SCIM with its API
    /// key: the key acting ([`Actor::api_key`]), recorded in events and
    /// the audit trail as a `scimClient` of the key's id.
    pub fn scim_client(grant: KeyGrant) -> Self {
        Self {
            directory: true,
            ..Self::api_key(grant)
        }
    }

    /// The key acting, when an API key is.
    pub const fn key_grant(&self) -> Option<&KeyGrant> {
        self.key.as_ref()
    }

    /// The actor as events and the audit trail record it.
    pub const fn reference(&self) -> ActorRef {
        match &self.key {
            Some(grant) if self.directory => ActorRef::scim_client(grant.key),
            Some(grant) => ActorRef::api_key(grant.key),
            None => ActorRef::user(self.user_id),
        }
    }

    /// The same actor, signed in as its token says (address and provider),
    /// which organizations with `ssoRequired` domains judge.
    #[must_use]
    pub fn signed_in(mut self, sign_in: SignIn) -> Self {
        self.sign_in = sign_in;
        self
    }

    /// How the actor signed in (nothing known: [`SignIn::default`]).
    pub const fn sign_in(&self) -> &SignIn {
        &self.sign_in
    }

    /// The same actor, acting within the given request.
    pub const fn in_request(mut self, request_id: RequestId) -> Self {
        self.request_id = Some(request_id);
        self
    }

    /// The request the actor acts within, if known.
    pub const fn request_id(&self) -> Option<RequestId> {
        self.request_id
    }

    /// An ordinary user.
    pub const fn user(user_id: UserId) -> Self {
        Self::new(user_id, SystemRole::User)
    }

    /// A platform administrator.
    pub const fn platform_admin(user_id: UserId) -> Self {
        Self::new(user_id, SystemRole::Admin)
    }

    /// The acting user (for an API key, the key's id: see
    /// [`Actor::api_key`]).
    pub const fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The acting user's platform role.
    pub const fn system_role(&self) -> SystemRole {
        self.system_role
    }

    /// Whether the actor is a platform administrator.
    pub const fn is_platform_admin(&self) -> bool {
        matches!(self.system_role, SystemRole::Admin)
    }
}
