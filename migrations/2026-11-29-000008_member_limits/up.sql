-- The most members an organization may have; NULL for no limit.
ALTER TABLE organizations ADD COLUMN max_members INTEGER CHECK (max_members >= 0);
