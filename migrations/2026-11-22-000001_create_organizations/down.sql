DROP TABLE organization_members;
DROP TABLE organizations;
DROP TABLE users;
