//! Diesel's view of the tables created by `migrations/`.

diesel::table! {
    users (id) {
        id -> Uuid,
        subject -> Varchar,
        email -> Nullable<Varchar>,
        display_name -> Nullable<Varchar>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        given_name -> Nullable<Varchar>,
        family_name -> Nullable<Varchar>,
        search_words -> Array<Text>,
        erased_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    organizations (id) {
        id -> Uuid,
        name -> Varchar,
        slug -> Varchar,
        status -> Varchar,
        purge_after -> Nullable<Timestamptz>,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        max_members -> Nullable<Int4>,
        metadata -> Jsonb,
        private_metadata -> Jsonb,
        sso_required_domains -> Array<Text>,
        sso_login_configs -> Array<Uuid>,
    }
}

diesel::table! {
    organization_members (org_id, user_id) {
        org_id -> Uuid,
        user_id -> Uuid,
        role -> Varchar,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    permissions (name) {
        name -> Varchar,
        description -> Varchar,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    custom_roles (org_id, role_key) {
        org_id -> Uuid,
        role_key -> Varchar,
        name -> Varchar,
        description -> Varchar,
        permissions -> Array<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    member_custom_roles (org_id, user_id, role_key) {
        org_id -> Uuid,
        user_id -> Uuid,
        role_key -> Varchar,
    }
}

diesel::table! {
    platform_roles (role_key) {
        role_key -> Varchar,
        name -> Varchar,
        description -> Varchar,
        permissions -> Array<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    member_platform_roles (org_id, user_id, role_key) {
        org_id -> Uuid,
        user_id -> Uuid,
        role_key -> Varchar,
    }
}

// A view: every role under its scope (the nil UUID for platform roles).
diesel::table! {
    scoped_roles (scope_id, role_key) {
        scope_id -> Uuid,
        role_key -> Varchar,
        name -> Varchar,
        description -> Varchar,
        permissions -> Array<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

// A view: every role a member holds, with the role's scope.
diesel::table! {
    member_scoped_roles (org_id, user_id, role_key) {
        org_id -> Uuid,
        user_id -> Uuid,
        role_key -> Varchar,
        scope_id -> Uuid,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Uuid,
        org_id -> Uuid,
        actor_id -> Nullable<Uuid>,
        actor_kind -> Varchar,
        action -> Varchar,
        request_id -> Nullable<Uuid>,
        details -> Json,
        occurred_at -> Timestamptz,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        org_id -> Uuid,
        name -> Varchar,
        prefix -> Varchar,
        digest -> Varchar,
        permissions -> Array<Text>,
        created_by -> Uuid,
        created_by_kind -> Varchar,
        created_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        rotated_from -> Nullable<Uuid>,
    }
}

diesel::joinable!(api_keys -> organizations (org_id));

diesel::table! {
    webhook_endpoints (id) {
        id -> Uuid,
        org_id -> Uuid,
        url -> Text,
        event_types -> Array<Text>,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamptz>,
        created_by -> Uuid,
        created_by_kind -> Varchar,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        failures -> Int4,
        leased_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    outbox (seq) {
        seq -> Int8,
        event_id -> Uuid,
        aggregate_id -> Uuid,
        event_type -> Varchar,
        payload -> Json,
        created_at -> Timestamptz,
        published_at -> Nullable<Timestamptz>,
        attempts -> Int4,
        last_error -> Nullable<Text>,
        dead_at -> Nullable<Timestamptz>,
        authz_synced_at -> Nullable<Timestamptz>,
        authz_attempts -> Int4,
        authz_last_error -> Nullable<Text>,
        authz_dead_at -> Nullable<Timestamptz>,
        // The login-broker and organization-mirror sinks' columns
        // (idp_* and mirror_*: synced_at, attempts, last_error, dead_at)
        // are read and written with SQL only (`outbox.rs`): listing them
        // would pass diesel's 16-column limit.
    }
}

diesel::table! {
    sso_configs (id) {
        id -> Uuid,
        org_id -> Nullable<Uuid>,
        name -> Varchar,
        issuer_url -> Nullable<Varchar>,
        client_id -> Nullable<Varchar>,
        client_secret_enc -> Nullable<Text>,
        enabled -> Bool,
        auto_provision -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        protocol -> Varchar,
        saml -> Nullable<Jsonb>,
    }
}

diesel::table! {
    invitations (id) {
        id -> Uuid,
        org_id -> Uuid,
        email -> Varchar,
        role -> Varchar,
        token_digest -> Varchar,
        invited_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
        accepted_by -> Nullable<Uuid>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    organization_domains (org_id, name) {
        org_id -> Uuid,
        name -> Varchar,
        challenge -> Varchar,
        created_at -> Timestamptz,
        verified_at -> Nullable<Timestamptz>,
        auto_join -> Bool,
        sso_required -> Bool,
    }
}

diesel::joinable!(organization_members -> organizations (org_id));
diesel::joinable!(organization_members -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    users,
    organizations,
    organization_members,
    custom_roles,
    member_custom_roles,
    platform_roles,
    member_platform_roles,
    scoped_roles,
    member_scoped_roles,
    permissions,
    audit_events,
    outbox
);
