-- The member directory: members found by a prefix of their e-mail address
-- or of any word of their name, within one organization, at the speed of
-- an index range scan however many members it has.
--
-- Users keep their given and family names (from the token's claims) and
-- the words of their names a search matches (`search_words`, lower-cased;
-- the domain's `name_words` decides them, so one rule serves every
-- store).
ALTER TABLE users
    ADD COLUMN given_name   VARCHAR(200),
    ADD COLUMN family_name  VARCHAR(200),
    ADD COLUMN search_words TEXT[] NOT NULL DEFAULT '{}';

-- The directory's keys, one row per (membership, key): kind 'e' holds the
-- e-mail address, kind 'n' one word of the name. `email_key` is the
-- address again ('' when there is none), the order a search answers in.
-- "C" collation: byte order, so a prefix is a range of the index.
CREATE TABLE member_search (
    org_id    UUID NOT NULL,
    kind      "char" NOT NULL CHECK (kind IN ('e', 'n')),
    key       TEXT COLLATE "C" NOT NULL,
    email_key TEXT COLLATE "C" NOT NULL,
    user_id   UUID NOT NULL,
    CONSTRAINT member_search_pkey PRIMARY KEY (org_id, kind, key, email_key, user_id)
);
CREATE INDEX member_search_user ON member_search (user_id, org_id);

-- Without a search, members are listed by the date they joined.
CREATE INDEX organization_members_joined ON organization_members (org_id, created_at, user_id);

-- The keys of memberships, from their users' rows.
CREATE FUNCTION member_search_keys(memberships_org UUID[], memberships_user UUID[])
RETURNS TABLE (org_id UUID, kind "char", key TEXT, email_key TEXT, user_id UUID)
LANGUAGE sql STABLE AS $$
    SELECT m.org_id, 'e'::"char", u.email, u.email, m.user_id
    FROM unnest(memberships_org, memberships_user) AS m(org_id, user_id)
    JOIN users u ON u.id = m.user_id
    WHERE u.email IS NOT NULL
    UNION ALL
    SELECT m.org_id, 'n'::"char", w.word, coalesce(u.email, ''), m.user_id
    FROM unnest(memberships_org, memberships_user) AS m(org_id, user_id)
    JOIN users u ON u.id = m.user_id AND u.search_words <> '{}'
    CROSS JOIN LATERAL (SELECT DISTINCT word FROM unnest(u.search_words) AS word) w
$$;

CREATE FUNCTION member_search_on_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO member_search (org_id, kind, key, email_key, user_id)
    SELECT k.* FROM member_search_keys(
        ARRAY(SELECT w.org_id FROM written w ORDER BY w.org_id, w.user_id),
        ARRAY(SELECT w.user_id FROM written w ORDER BY w.org_id, w.user_id)) k
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER organization_members_search_on_insert
    AFTER INSERT ON organization_members
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION member_search_on_insert();

CREATE FUNCTION member_search_on_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM member_search s USING gone g
    WHERE s.user_id = g.user_id AND s.org_id = g.org_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER organization_members_search_on_delete
    AFTER DELETE ON organization_members
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION member_search_on_delete();

-- A user whose address or name changed: their keys in every organization
-- they belong to are written again (rare: only when a login's claims
-- differ from the stored ones).
CREATE FUNCTION member_search_on_user_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM member_search WHERE user_id = NEW.id;
    INSERT INTO member_search (org_id, kind, key, email_key, user_id)
    SELECT k.* FROM member_search_keys(
        ARRAY(SELECT m.org_id FROM organization_members m WHERE m.user_id = NEW.id ORDER BY m.org_id),
        ARRAY(SELECT m.user_id FROM organization_members m WHERE m.user_id = NEW.id ORDER BY m.org_id)) k
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_search_on_update
    AFTER UPDATE OF email, search_words ON users
    FOR EACH ROW
    WHEN (OLD.email IS DISTINCT FROM NEW.email OR OLD.search_words IS DISTINCT FROM NEW.search_words)
    EXECUTE FUNCTION member_search_on_user_update();

-- A search page, as one function: its plan is made once per connection
-- and kept (`plan_cache_mode = force_generic_plan`). As a prepared
-- statement PostgreSQL planned it again at every call (its generic plan
-- looks dearer than the custom ones), which cost more than running it.
-- The steps: the name words with the prefix are found one by one (a skip
-- scan: `words`) and each word's rows read in e-mail order up to one page;
-- the addresses with the prefix are read in e-mail order from one row
-- bound (`p_start`, `p_start_user`: the later of the prefix and the
-- cursor; an index scan starts at only one of two lower bounds of a
-- column, and may pick the weaker); the two are merged, each member once.
CREATE FUNCTION member_search_page(
    p_org UUID, p_prefix TEXT, p_upper TEXT, p_after_email TEXT, p_after_user UUID,
    p_limit BIGINT, p_role VARCHAR, p_start TEXT, p_start_user UUID)
RETURNS TABLE (org_id UUID, user_id UUID, role VARCHAR, created_at TIMESTAMPTZ,
               updated_at TIMESTAMPTZ, holds_roles BOOLEAN, email VARCHAR,
               display_name VARCHAR, given_name VARCHAR, family_name VARCHAR)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $fn$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH RECURSIVE words(w) AS (
      (SELECT s.key FROM member_search s
       WHERE s.org_id = p_org AND s.kind = 'n' AND s.key >= p_prefix AND s.key < p_upper
       ORDER BY s.key LIMIT 1)
      UNION ALL
      SELECT (SELECT s.key FROM member_search s
              WHERE s.org_id = p_org AND s.kind = 'n' AND s.key > words.w AND s.key < p_upper
              ORDER BY s.key LIMIT 1)
      FROM words WHERE words.w IS NOT NULL
    ), hits AS (
      (SELECT s.user_id, s.email_key FROM member_search s
       WHERE s.org_id = p_org AND s.kind = 'e' AND s.key < p_upper
         AND (s.key, s.email_key, s.user_id) > (p_start, p_start, p_start_user)
         AND (p_role IS NULL OR EXISTS (SELECT 1 FROM organization_members r
              WHERE r.org_id = s.org_id AND r.user_id = s.user_id AND r.role = p_role))
       ORDER BY s.key, s.email_key, s.user_id LIMIT p_limit)
      UNION
      SELECT n.user_id, n.email_key FROM words
      CROSS JOIN LATERAL (
        SELECT s.user_id, s.email_key FROM member_search s
        WHERE s.org_id = p_org AND s.kind = 'n' AND s.key = words.w
          AND (s.email_key, s.user_id) > (p_after_email, p_after_user)
          AND (p_role IS NULL OR EXISTS (SELECT 1 FROM organization_members r
               WHERE r.org_id = s.org_id AND r.user_id = s.user_id AND r.role = p_role))
        ORDER BY s.email_key, s.user_id LIMIT p_limit) n
      WHERE words.w IS NOT NULL)
    SELECT m.org_id, m.user_id, m.role, m.created_at, m.updated_at, m.holds_roles,
           u.email, u.display_name, u.given_name, u.family_name
    FROM (SELECT DISTINCT h.user_id, h.email_key FROM hits h
          ORDER BY h.email_key, h.user_id LIMIT p_limit) h
    JOIN organization_members m ON m.org_id = p_org AND m.user_id = h.user_id
    JOIN users u ON u.id = h.user_id
    ORDER BY h.email_key, h.user_id;
END
$fn$;

-- Existing users: the words of their display names, split as the domain
-- splits them (white space and hyphens), then every membership's keys.
UPDATE users
SET search_words = ARRAY(
    SELECT DISTINCT left(word, 100)
    FROM regexp_split_to_table(lower(display_name), '[[:space:]-]+') AS word
    WHERE word <> '')
WHERE display_name IS NOT NULL;

INSERT INTO member_search (org_id, kind, key, email_key, user_id)
SELECT k.* FROM member_search_keys(
    ARRAY(SELECT org_id FROM organization_members ORDER BY org_id, user_id),
    ARRAY(SELECT user_id FROM organization_members ORDER BY org_id, user_id)) k
ON CONFLICT DO NOTHING;
