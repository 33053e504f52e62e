ALTER TABLE organizations DROP COLUMN max_members;
