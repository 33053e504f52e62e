-- Free-form data for the platform's services: `metadata` for every member,
-- `private_metadata` for those who manage the organization. JSON objects of
-- at most 8 KiB (the domain enforces the size; the schema the shape).
ALTER TABLE organizations
    ADD COLUMN metadata         JSONB NOT NULL DEFAULT '{}'
        CHECK (jsonb_typeof(metadata) = 'object'),
    ADD COLUMN private_metadata JSONB NOT NULL DEFAULT '{}'
        CHECK (jsonb_typeof(private_metadata) = 'object');
