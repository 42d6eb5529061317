-- Retention (store/retention.py): final notifications, read inbox items and delivered status events older than
-- HERALD_RETENTION_DAYS are deleted a batch at a time.

-- Rows that are or may become old enough to go, oldest change first: a batch reads only these, however many
-- notifications are still in flight.
CREATE INDEX notification_retention_idx ON notification (updated_at, id)
    WHERE status IN ('delivered', 'canceled', 'discarded', 'skipped', 'digested', 'dead_lettered');
CREATE INDEX inbox_item_read_idx ON inbox_item (read_at) WHERE read_at IS NOT NULL;
CREATE INDEX status_event_delivered_idx ON status_event (done_at) WHERE outcome = 'delivered';

-- Deleting a notification cascades to these; without an index on the referencing column each deleted row would
-- scan the whole table.
CREATE INDEX dead_letter_notification_idx ON dead_letter (notification_id);
CREATE INDEX webhook_dead_letter_event_idx ON webhook_dead_letter (event_id);

-- The counts /metrics and the dashboard read are lifetime totals: what retention deletes stays counted. It sets
-- herald.retention for its own transactions, and the triggers that count deleted rows out do not fire there.
DROP TRIGGER notification_tally_delete ON notification;
CREATE TRIGGER notification_tally_delete BEFORE DELETE ON notification
    FOR EACH ROW WHEN (current_setting('herald.retention', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION tally_notification_delete();
DROP TRIGGER delivery_tally_delete ON delivery;
CREATE TRIGGER delivery_tally_delete AFTER DELETE ON delivery REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT WHEN (current_setting('herald.retention', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION tally_delivery_delete();
DROP TRIGGER delivery_attempt_tally_delete ON delivery_attempt;
CREATE TRIGGER delivery_attempt_tally_delete AFTER DELETE ON delivery_attempt REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT WHEN (current_setting('herald.retention', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION tally_attempt_delete();
