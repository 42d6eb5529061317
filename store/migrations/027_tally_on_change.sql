-- The tallies (014_smaller_holes.sql) move only when a notification's status or priority changes, or a delivery
-- attempt's outcome or channel. Their update triggers were statement triggers with transition tables, which
-- PostgreSQL allows on no column list: every UPDATE of notification (start_checked_at from the outbox, a locale,
-- updated_at) captured its old and new rows and ran the function, which then found nothing to count.
-- Row triggers take a column list and a WHEN, both checked without calling the function: an update that sets
-- neither column, or sets it to what it was, costs nothing. A status change writes the same changes as before,
-- one row per key for a single notification; an update of many notifications at once (a broadcast canceled)
-- appends one set per notification instead of one sum, which the next fold adds up as it would have.
-- The trigger fires at the end of the statement, as the statement trigger did, so it counts the deliveries that
-- same statement inserted (an escalation's) just the same.
DROP TRIGGER notification_tally_update ON notification;
DROP FUNCTION tally_notification_update();

CREATE FUNCTION tally_notification_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tally_change (kind, status, channel, priority, delta)
    SELECT 'notification', OLD.status, '', OLD.priority, -1
    UNION ALL SELECT 'notification', NEW.status, '', NEW.priority, 1
    UNION ALL SELECT 'delivery', OLD.status, d.channel, OLD.priority, -1 FROM delivery d
        WHERE d.notification_id = NEW.id
    UNION ALL SELECT 'delivery', NEW.status, d.channel, NEW.priority, 1 FROM delivery d
        WHERE d.notification_id = NEW.id;
    RETURN NULL;
END $$;

CREATE TRIGGER notification_tally_update AFTER UPDATE OF status, priority ON notification
    FOR EACH ROW WHEN ((OLD.status, OLD.priority) IS DISTINCT FROM (NEW.status, NEW.priority))
    EXECUTE FUNCTION tally_notification_move();

-- Attempt inserts keep 014's statement trigger: a bulk insert (a COPY, an import) appends one change per channel
-- where a row trigger would append one per failed attempt, all of which the next scrape's fold reads and deletes.

-- Herald never updates an attempt; an operator's UPDATE that changes an outcome or a channel is still counted.
DROP TRIGGER delivery_attempt_tally_update ON delivery_attempt;
DROP FUNCTION tally_attempt_update();

CREATE FUNCTION tally_attempt_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tally_change (kind, status, channel, priority, delta)
    SELECT 'failed_attempt', '', OLD.channel, '', -1 WHERE OLD.outcome <> 'delivered'
    UNION ALL SELECT 'failed_attempt', '', NEW.channel, '', 1 WHERE NEW.outcome <> 'delivered';
    RETURN NULL;
END $$;

CREATE TRIGGER delivery_attempt_tally_update AFTER UPDATE OF outcome, channel ON delivery_attempt
    FOR EACH ROW WHEN ((OLD.outcome, OLD.channel) IS DISTINCT FROM (NEW.outcome, NEW.channel))
    EXECUTE FUNCTION tally_attempt_move();
