-- Recurring broadcasts: the definition of each Temporal Schedule `herald-schedule-<id>`, kept here so schedules
-- can be listed and shown whatever Temporal's visibility says, and so each fire reads what to send.
-- A deleted schedule keeps its row (deleted_at): its broadcasts name it, and its id is not reused.

CREATE TABLE schedule (
    id               text PRIMARY KEY,
    request_hash     text NOT NULL,
    cron             text,
    every            text,
    timezone         text,
    template         text NOT NULL,
    template_version integer,
    data             jsonb NOT NULL DEFAULT '{}'::jsonb,
    channels         text[] NOT NULL,
    priority         text NOT NULL,
    category         text,
    audience         jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    CHECK ((cron IS NULL) <> (every IS NULL))
);

ALTER TABLE broadcast ADD COLUMN schedule_id text REFERENCES schedule (id);
CREATE INDEX broadcast_schedule_idx ON broadcast (schedule_id, created_at) WHERE schedule_id IS NOT NULL;
