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

-- A client's idempotency key is stored as `client:<key id>:<key>` (core/ids.py); status webhooks show it as the
-- client sent it, as the API does.
CREATE FUNCTION herald_client_key(stored text, created_by text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN created_by IS NOT NULL AND starts_with(stored, 'client:' || created_by || ':')
                THEN substr(stored, length('client:' || created_by || ':') + 1)
                ELSE stored END
$$;

CREATE OR REPLACE FUNCTION herald_status_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_subscription WHERE deleted_at IS NULL AND NEW.status = ANY (events)) THEN
        RETURN NULL;
    END IF;
    INSERT INTO status_event (subscription_id, notification_id, type, payload)
    SELECT s.id, NEW.id, NEW.status, jsonb_build_object(
               'notification_id', NEW.id,
               'workflow_id', NEW.workflow_id,
               'status', NEW.status,
               'user_id', NEW.user_id,
               'channels', to_jsonb(NEW.channels),
               'priority', NEW.priority,
               'category', NEW.category,
               'idempotency_key', herald_client_key(NEW.idempotency_key, NEW.created_by),
               'send_at', NEW.send_at,
               'delivered_at', NEW.delivered_at,
               'digest_id', NEW.digest_id,
               'error', CASE WHEN NEW.status IN ('dead_lettered', 'discarded') THEN NEW.last_error END,
               'detail', CASE
                   WHEN TG_OP = 'INSERT' THEN NULL
                   WHEN NEW.status = 'digested' THEN 'delivered in digest ' || NEW.digest_id
                   ELSE (SELECT e.detail FROM notification_event e WHERE e.notification_id = NEW.id
                         ORDER BY e.id DESC LIMIT 1) END,
               'deliveries', (SELECT jsonb_agg(jsonb_build_object('channel', d.channel, 'status', d.status,
                                                                  'attempts', d.attempts) ORDER BY d.channel)
                              FROM delivery d WHERE d.notification_id = NEW.id))
    FROM webhook_subscription s
    WHERE s.deleted_at IS NULL AND NEW.status = ANY (s.events);
    IF FOUND THEN
        PERFORM pg_notify('herald_status_event', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION herald_read_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_subscription WHERE deleted_at IS NULL AND 'read' = ANY (events)) THEN
        RETURN NULL;
    END IF;
    INSERT INTO status_event (subscription_id, notification_id, type, occurred_at, payload)
    SELECT s.id, n.id, 'read', NEW.read_at, jsonb_build_object(
               'notification_id', n.id,
               'workflow_id', n.workflow_id,
               'status', n.status,
               'user_id', n.user_id,
               'channels', to_jsonb(n.channels),
               'priority', n.priority,
               'category', n.category,
               'idempotency_key', herald_client_key(n.idempotency_key, n.created_by),
               'read_at', NEW.read_at,
               'detail', 'read in the inbox')
    FROM (SELECT * FROM notification WHERE id = NEW.notification_id FOR NO KEY UPDATE) n
    CROSS JOIN webhook_subscription s
    WHERE s.deleted_at IS NULL AND 'read' = ANY (s.events);
    IF FOUND THEN
        PERFORM pg_notify('herald_status_event', '');
    END IF;
    RETURN NULL;
END
$$;
