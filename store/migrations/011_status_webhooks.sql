-- Status webhooks: subscribers register an endpoint and the event types they want; every status change of a
-- notification they asked for is written to the outbox `status_event`, one row per subscription, by a trigger
-- in the same transaction as the change. The worker's relay hands each row to that subscription's
-- StatusWebhookWorkflow for the notification, which posts it (signed, retried, dead-lettered).
CREATE TABLE webhook_subscription (
    id          text PRIMARY KEY,
    url         text NOT NULL,
    events      text[] NOT NULL,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);

CREATE TABLE status_event (
    id              bigserial PRIMARY KEY,
    subscription_id text NOT NULL REFERENCES webhook_subscription (id),
    notification_id text NOT NULL REFERENCES notification (id) ON DELETE CASCADE,
    type            text NOT NULL,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    -- What the receiver gets as `data`: ids, status, channels, detail; never template data or addresses.
    payload         jsonb NOT NULL,
    relayed_at      timestamptz,
    -- How the event ended: delivered, discarded (from its dead letter), canceled (subscription deleted).
    outcome         text,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    done_at         timestamptz
);
-- The relay's work list: small, because rows leave it as soon as they are relayed.
CREATE INDEX status_event_unrelayed_idx ON status_event (id) WHERE relayed_at IS NULL;
CREATE INDEX status_event_notification_idx ON status_event (notification_id, id);

CREATE TABLE webhook_dead_letter (
    id               bigserial PRIMARY KEY,
    subscription_id  text NOT NULL REFERENCES webhook_subscription (id),
    event_id         bigint NOT NULL REFERENCES status_event (id) ON DELETE CASCADE,
    workflow_id      text NOT NULL,
    error            text NOT NULL,
    attempts         integer NOT NULL,
    dead_lettered_at timestamptz NOT NULL,
    resolved_at      timestamptz,
    resolution       text
);
CREATE UNIQUE INDEX webhook_dead_letter_open_idx ON webhook_dead_letter (event_id) WHERE resolved_at IS NULL;
CREATE INDEX webhook_dead_letter_subscription_idx ON webhook_dead_letter (subscription_id, id)
    WHERE resolved_at IS NULL;

-- One outbox row per live subscription that wants this status. With none, one look at a tiny table is the
-- whole cost on the hot path (the guard spares opening the outbox and its indexes). The payload's detail is
-- the timeline event written in the same transaction (apply_status_change writes it before the status).
CREATE FUNCTION herald_status_event() RETURNS trigger LANGUAGE plpgsql AS $$
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
               'idempotency_key', NEW.idempotency_key,
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

CREATE TRIGGER notification_status_event_insert AFTER INSERT ON notification
    FOR EACH ROW EXECUTE FUNCTION herald_status_event();
-- WHEN is checked without calling the function: a write that leaves the status as it was (a timeline-only
-- record, a repeated record after a lost workflow task) costs nothing and sends nothing, and neither do
-- `processing` and `retrying`, which are no event type.
CREATE TRIGGER notification_status_event_update AFTER UPDATE OF status ON notification
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status NOT IN ('processing', 'retrying'))
    EXECUTE FUNCTION herald_status_event();

-- `read` comes from the inbox: the first time an item's read_at is set. The notification row is locked first,
-- so the read event's outbox id is ordered after any status change committed before it, like the others.
CREATE FUNCTION herald_read_event() RETURNS trigger LANGUAGE plpgsql AS $$
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
               'idempotency_key', n.idempotency_key,
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

CREATE TRIGGER inbox_item_read_event AFTER UPDATE OF read_at ON inbox_item
    FOR EACH ROW WHEN (OLD.read_at IS NULL AND NEW.read_at IS NOT NULL) EXECUTE FUNCTION herald_read_event();
