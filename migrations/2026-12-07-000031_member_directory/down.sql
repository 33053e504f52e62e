DROP FUNCTION member_search_page(UUID, TEXT, TEXT, TEXT, UUID, BIGINT, VARCHAR, TEXT, UUID);
DROP TRIGGER users_search_on_update ON users;
DROP TRIGGER organization_members_search_on_delete ON organization_members;
DROP TRIGGER organization_members_search_on_insert ON organization_members;
DROP FUNCTION member_search_on_user_update();
DROP FUNCTION member_search_on_delete();
DROP FUNCTION member_search_on_insert();
DROP FUNCTION member_search_keys(UUID[], UUID[]);
DROP INDEX organization_members_joined;
DROP TABLE member_search;
ALTER TABLE users
    DROP COLUMN search_words,
    DROP COLUMN family_name,
    DROP COLUMN given_name;
