-- Which API key created a notification (NULL: Herald's own work, or created before keys were recorded), so a
-- `send` key sees and changes only its own; and inbox tokens that expire and can be revoked.

ALTER TABLE notification ADD COLUMN created_by text;
CREATE INDEX notification_created_by_idx ON notification (created_by, created_at DESC, id DESC)
    WHERE created_by IS NOT NULL;

ALTER TABLE broadcast ADD COLUMN created_by text;

ALTER TABLE user_token ADD COLUMN id text;
ALTER TABLE user_token ADD COLUMN expires_at timestamptz;
ALTER TABLE user_token ADD COLUMN revoked_at timestamptz;
-- Tokens issued before tokens had ids and lifetimes get both: an id to revoke them by, and the default
-- lifetime counted from now, so no token lives forever.
UPDATE user_token SET id = 'tok_' || left(token_hash, 16), expires_at = now() + interval '30 days';
ALTER TABLE user_token ALTER COLUMN id SET NOT NULL;
ALTER TABLE user_token ALTER COLUMN expires_at SET NOT NULL;
CREATE UNIQUE INDEX user_token_id_idx ON user_token (id);
