-- The inbox as a feed a customer's app embeds: when an item was seen (the feed opened on it), archived, or
-- snoozed until, the action buttons a notification carries (rendered at accept), and each click on one.

ALTER TABLE notification ADD COLUMN actions jsonb;

ALTER TABLE inbox_item ADD COLUMN seen_at timestamptz;
ALTER TABLE inbox_item ADD COLUMN archived_at timestamptz;
ALTER TABLE inbox_item ADD COLUMN snoozed_until timestamptz;
ALTER TABLE inbox_item ADD COLUMN actions jsonb NOT NULL DEFAULT '[]';

CREATE TABLE inbox_action_click (
    id              bigserial PRIMARY KEY,
    notification_id text NOT NULL REFERENCES inbox_item (notification_id) ON DELETE CASCADE,
    action_index    integer NOT NULL,
    clicked_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_action_click_item_idx ON inbox_action_click (notification_id, id);

-- A changed item is announced on the same channel as a new one, marked `change`, so every open stream of the
-- user shows it at once (another tab's read, a snooze ending).
CREATE FUNCTION herald_inbox_item_change_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('herald_inbox', json_build_object('user_id', NEW.user_id,
                                                        'notification_id', NEW.notification_id,
                                                        'change', true)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER inbox_item_change_notify AFTER UPDATE OF seen_at, read_at, archived_at, snoozed_until ON inbox_item
    FOR EACH ROW WHEN ((OLD.seen_at, OLD.read_at, OLD.archived_at, OLD.snoozed_until)
                       IS DISTINCT FROM (NEW.seen_at, NEW.read_at, NEW.archived_at, NEW.snoozed_until))
    EXECUTE FUNCTION herald_inbox_item_change_notify();

-- A click goes out as status event `action` (`notification.action` to the receiver) through the same outbox as
-- the status changes, in the click's own transaction.
CREATE FUNCTION herald_action_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_subscription WHERE deleted_at IS NULL AND 'action' = ANY (events)) THEN
        RETURN NULL;
    END IF;
    INSERT INTO status_event (subscription_id, notification_id, type, occurred_at, payload)
    SELECT s.id, n.id, 'action', NEW.clicked_at, jsonb_build_object(
               'notification_id', n.id,
               'workflow_id', n.workflow_id,
               'status', n.status,
               'user_id', n.user_id,
               'channels', to_jsonb(n.channels),
               'priority', n.priority,
               'category', n.category,
               'idempotency_key', herald_client_key(n.idempotency_key, n.created_by),
               'action', jsonb_build_object('index', NEW.action_index,
                                            'label', i.actions -> NEW.action_index ->> 'label',
                                            'url', i.actions -> NEW.action_index ->> 'url'),
               'clicked_at', NEW.clicked_at,
               'detail', 'action clicked in the inbox')
    FROM (SELECT * FROM notification WHERE id = NEW.notification_id FOR NO KEY UPDATE) n
    JOIN inbox_item i ON i.notification_id = n.id
    CROSS JOIN webhook_subscription s
    WHERE s.deleted_at IS NULL AND 'action' = ANY (s.events);
    IF FOUND THEN
        PERFORM pg_notify('herald_status_event', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER inbox_action_click_event AFTER INSERT ON inbox_action_click
    FOR EACH ROW EXECUTE FUNCTION herald_action_event();
