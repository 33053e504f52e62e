DROP TABLE member_custom_roles;
DROP TABLE custom_roles;
DROP TABLE permissions;
