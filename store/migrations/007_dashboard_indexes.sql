-- The dashboard's activity log lists notifications newest first, filtered by status or user, a page at a time
-- after a (created_at, id) cursor: these indexes serve the filter and the order together, so a page costs the
-- same at ten thousand rows or ten million. They replace the single-column ones, whose lookups they also serve.
CREATE INDEX notification_status_created_idx ON notification (status, created_at DESC, id DESC);
CREATE INDEX notification_user_created_idx ON notification (user_id, created_at DESC, id DESC);
DROP INDEX notification_status_idx;
DROP INDEX notification_user_idx;

-- The overview's throughput counts deliveries of the last minutes.
CREATE INDEX notification_delivered_idx ON notification (delivered_at) WHERE delivered_at IS NOT NULL;
