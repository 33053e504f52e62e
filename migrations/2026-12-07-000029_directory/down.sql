DROP TABLE directory_group_roles;
DROP TABLE directory_group_members;
DROP TABLE directory_groups;
DROP TABLE directory_users;
