-- Invitations to join an organization. Only a digest of each token is
-- stored; the token itself is shown to the inviter once.
CREATE TABLE invitations (
    id           UUID         NOT NULL PRIMARY KEY,
    org_id       UUID         NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- Stored lower-cased, as users' addresses are.
    email        VARCHAR(254) NOT NULL,
    role         VARCHAR(20)  NOT NULL,
    token_digest VARCHAR(64)  NOT NULL CONSTRAINT invitations_token_digest_key UNIQUE,
    invited_by   UUID         REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMPTZ  NOT NULL,
    expires_at   TIMESTAMPTZ  NOT NULL,
    accepted_at  TIMESTAMPTZ,
    accepted_by  UUID         REFERENCES users (id) ON DELETE SET NULL,
    revoked_at   TIMESTAMPTZ,
    CONSTRAINT invitations_one_outcome CHECK (accepted_at IS NULL OR revoked_at IS NULL)
);
-- One open invitation per address and organization (an expired one still
-- counts until it is resent or revoked).
CREATE UNIQUE INDEX invitations_open_key ON invitations (org_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
