-- Digests: a notification that carries `digest` {"key", "window"} is absorbed into one message per (user, key)
-- and window; it then ends as `digested`, and `digest_id` points to the notification that delivered it.
ALTER TABLE notification ADD COLUMN digest jsonb;
ALTER TABLE notification ADD COLUMN digest_id text REFERENCES notification (id);
CREATE INDEX notification_digest_idx ON notification (digest_id) WHERE digest_id IS NOT NULL;
