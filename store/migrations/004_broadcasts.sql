-- Broadcasts: one row each; every recipient gets a notification of its own, linked by broadcast_id.

CREATE TABLE broadcast (
    id               text PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    request_hash     text NOT NULL,
    workflow_id      text NOT NULL UNIQUE,
    status           text NOT NULL,
    template         text NOT NULL,
    template_version integer NOT NULL,
    data             jsonb NOT NULL DEFAULT '{}'::jsonb,
    channels         text[] NOT NULL,
    priority         text NOT NULL,
    category         text,
    audience         jsonb NOT NULL,
    recipients       integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE notification ADD COLUMN broadcast_id text REFERENCES broadcast (id);
CREATE INDEX notification_broadcast_idx ON notification (broadcast_id, status) WHERE broadcast_id IS NOT NULL;
