DROP VIEW member_scoped_roles;
DROP VIEW scoped_roles;
DROP TABLE member_platform_roles;
DROP TABLE platform_roles;
