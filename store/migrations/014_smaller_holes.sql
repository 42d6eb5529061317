-- The dead-letter queue lists unresolved dead letters a page at a time in id order: this index holds only
-- those, so a page costs the same however much resolved history the table keeps.
CREATE INDEX dead_letter_unresolved_idx ON dead_letter (id) WHERE resolved_at IS NULL;

-- The reconciler looks for stored notifications whose workflow (or digest) may never have been told of them.
-- Once it has seen one held by Temporal it sets start_checked_at and does not look again; what is left to look
-- at is small whatever the table's size or the notification's age, and this index holds exactly that.
ALTER TABLE notification ADD COLUMN start_checked_at timestamptz;
CREATE INDEX notification_unchecked_idx ON notification (created_at, id)
    WHERE status IN ('accepted', 'scheduled') AND start_checked_at IS NULL;

-- Counts for /metrics and the dashboard's totals, kept as the rows change rather than counted at every scrape.
-- Writers append signed changes to tally_change (appends never wait on one another); a reader folds the
-- changes into tally (tally.fold) and sums the two, so a scrape reads one row per key plus recent changes.
--   kind 'notification':   notifications by status and priority
--   kind 'delivery':       deliveries by their notification's status, their channel, and the priority
--   kind 'failed_attempt': delivery attempts whose outcome is not 'delivered', by channel
CREATE TABLE tally (
    kind     text NOT NULL,
    status   text NOT NULL,
    channel  text NOT NULL,
    priority text NOT NULL,
    n        bigint NOT NULL,
    PRIMARY KEY (kind, status, channel, priority)
);

CREATE TABLE tally_change (
    kind     text NOT NULL,
    status   text NOT NULL,
    channel  text NOT NULL,
    priority text NOT NULL,
    delta    bigint NOT NULL
);

CREATE FUNCTION tally_notification_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tally_change (kind, status, channel, priority, delta)
    SELECT 'notification', status, '', priority, count(*) FROM new_rows GROUP BY status, priority;
    RETURN NULL;
END $$;

CREATE FUNCTION tally_notification_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changed AS (
        SELECT o.id, o.status AS old_status, o.priority AS old_priority, n.status AS new_status,
               n.priority AS new_priority
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.status, o.priority) IS DISTINCT FROM (n.status, n.priority)
    ), moves AS (
        SELECT 'notification' AS kind, old_status AS status, '' AS channel, old_priority AS priority, -1 AS delta
            FROM changed
        UNION ALL SELECT 'notification', new_status, '', new_priority, 1 FROM changed
        UNION ALL SELECT 'delivery', c.old_status, d.channel, c.old_priority, -1
            FROM changed c JOIN delivery d ON d.notification_id = c.id
        UNION ALL SELECT 'delivery', c.new_status, d.channel, c.new_priority, 1
            FROM changed c JOIN delivery d ON d.notification_id = c.id
    )
    INSERT INTO tally_change (kind, status, channel, priority, delta)
    SELECT kind, status, channel, priority, sum(delta) FROM moves
    GROUP BY kind, status, channel, priority HAVING sum(delta) <> 0;
    RETURN NULL;
END $$;

-- Row by row, before the row goes: its deliveries are still there to be counted out (a cascade removes
-- them after the notification, when their notification's status can no longer be read).
CREATE FUNCTION tally_notification_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tally_change (kind, status, channel, priority, delta)
    SELECT 'notification', OLD.status, '', OLD.priority, -1
    UNION ALL SELECT 'delivery', OLD.status, d.channel, OLD.priority, -1 FROM delivery d
        WHERE d.notification_id = OLD.id;
    RETURN OLD;
END $$;

CREATE FUNCTION tally_delivery_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tally_change (kind, status, channel, priority, delta)
    SELECT 'delivery', n.status, d.channel, n.priority, count(*)
    FROM new_rows d JOIN notification n ON n.id = d.notification_id
    GROUP BY n.status, d.channel, n.priority;
    RETURN NULL;
END $$;

-- A delivery removed on its own; those removed with their notification were counted out by its trigger.
CREATE FUNCTION tally_delivery_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tally_change (kind, status, channel, priority, delta)
    SELECT 'delivery', n.status, d.channel, n.priority, -count(*)
    FROM old_rows d JOIN notification n ON n.id = d.notification_id
    GROUP BY n.status, d.channel, n.priority;
    RETURN NULL;
END $$;

CREATE FUNCTION tally_attempt_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tally_change (kind, status, channel, priority, delta)
    SELECT 'failed_attempt', '', channel, '', count(*) FROM new_rows WHERE outcome <> 'delivered' GROUP BY channel;
    RETURN NULL;
END $$;

CREATE FUNCTION tally_attempt_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tally_change (kind, status, channel, priority, delta)
    SELECT 'failed_attempt', '', channel, '', -count(*) FROM old_rows WHERE outcome <> 'delivered' GROUP BY channel;
    RETURN NULL;
END $$;

CREATE FUNCTION tally_attempt_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH moves AS (
        SELECT channel, -1 AS delta FROM old_rows WHERE outcome <> 'delivered'
        UNION ALL SELECT channel, 1 FROM new_rows WHERE outcome <> 'delivered'
    )
    INSERT INTO tally_change (kind, status, channel, priority, delta)
    SELECT 'failed_attempt', '', channel, '', sum(delta) FROM moves GROUP BY channel HAVING sum(delta) <> 0;
    RETURN NULL;
END $$;

-- TRUNCATE removes rows without row triggers: the counts of what it emptied start again from zero.
CREATE FUNCTION tally_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM tally WHERE kind = ANY(TG_ARGV);
    DELETE FROM tally_change WHERE kind = ANY(TG_ARGV);
    RETURN NULL;
END $$;

-- Creating the triggers locks the tables against writes until this migration commits, so the counts taken
-- below and the changes appended from then on add up exactly.
CREATE TRIGGER notification_tally_insert AFTER INSERT ON notification REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_notification_insert();
CREATE TRIGGER notification_tally_update AFTER UPDATE ON notification
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_notification_update();
CREATE TRIGGER notification_tally_delete BEFORE DELETE ON notification
    FOR EACH ROW EXECUTE FUNCTION tally_notification_delete();
CREATE TRIGGER delivery_tally_insert AFTER INSERT ON delivery REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_delivery_insert();
CREATE TRIGGER delivery_tally_delete AFTER DELETE ON delivery REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_delivery_delete();
CREATE TRIGGER delivery_attempt_tally_insert AFTER INSERT ON delivery_attempt REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_attempt_insert();
CREATE TRIGGER delivery_attempt_tally_update AFTER UPDATE ON delivery_attempt
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_attempt_update();
CREATE TRIGGER delivery_attempt_tally_delete AFTER DELETE ON delivery_attempt REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_attempt_delete();
CREATE TRIGGER notification_tally_truncate AFTER TRUNCATE ON notification
    FOR EACH STATEMENT EXECUTE FUNCTION tally_truncate('notification');
CREATE TRIGGER delivery_tally_truncate AFTER TRUNCATE ON delivery
    FOR EACH STATEMENT EXECUTE FUNCTION tally_truncate('delivery');
CREATE TRIGGER delivery_attempt_tally_truncate AFTER TRUNCATE ON delivery_attempt
    FOR EACH STATEMENT EXECUTE FUNCTION tally_truncate('failed_attempt');

INSERT INTO tally (kind, status, channel, priority, n)
SELECT 'notification', status, '', priority, count(*) FROM notification GROUP BY status, priority
UNION ALL
SELECT 'delivery', n.status, d.channel, n.priority, count(*)
FROM delivery d JOIN notification n ON n.id = d.notification_id GROUP BY n.status, d.channel, n.priority
UNION ALL
SELECT 'failed_attempt', '', channel, '', count(*) FROM delivery_attempt WHERE outcome <> 'delivered' GROUP BY channel;
