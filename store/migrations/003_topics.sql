-- Topic membership lives on the user (app_user.topics); this index makes "everyone on topic X" an index scan,
-- which broadcasts page through with a keyset cursor.
CREATE INDEX app_user_topics_idx ON app_user USING gin (topics);
