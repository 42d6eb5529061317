-- The outbox of workflow starts. Accepting a notification writes its row here in the statement that stores
-- the notification; workers claim rows (FOR UPDATE SKIP LOCKED, highest priority first) and start the
-- workflows, so accepting never waits for Temporal and keeps working while Temporal is down.
-- `available_at` is both a claim's lease (a worker that dies mid-start leaves the row to be claimed again
-- once it passes) and the backoff of a start that failed for another reason than an outage.
CREATE TABLE workflow_start (
    id              bigserial PRIMARY KEY,
    notification_id text NOT NULL UNIQUE REFERENCES notification (id) ON DELETE CASCADE,
    task_queue      text NOT NULL,
    rank            smallint NOT NULL,  -- the Temporal task priority key: 1 (otp) starts first
    available_at    timestamptz NOT NULL DEFAULT now(),
    attempts        int NOT NULL DEFAULT 0,
    last_error      text,
    traceparent     text  -- the accepting request's trace, continued by the start (core/tracing.py)
);
CREATE INDEX workflow_start_claim_idx ON workflow_start (task_queue, rank, id);

-- One notification per statement, not per row: a bulk insert wakes the workers once. Delivered on commit.
CREATE FUNCTION workflow_start_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('herald_start', '');
    RETURN NULL;
END $$;
CREATE TRIGGER workflow_start_notify AFTER INSERT ON workflow_start
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_start_notify();
