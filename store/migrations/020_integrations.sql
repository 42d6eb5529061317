-- Integrations: the providers a team configures through the API. `config` holds the non-secret fields in the
-- clear; the secret ones are one AES-256-GCM box (`sealed`, nonce first) under the key `key_id` names, opened
-- only by processes that hold HERALD_INTEGRATION_KEYS.
CREATE TABLE integration (
    id         text PRIMARY KEY,
    channel    text NOT NULL,
    provider   text NOT NULL,
    config     jsonb NOT NULL,
    sealed     bytea,
    key_id     text,
    priority   integer NOT NULL DEFAULT 1,
    rate_per_s double precision,
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every change is announced on `herald_integrations` once committed: workers and API processes rebuild their
-- provider chains from it (and poll too, so a missed announcement only delays the change).
CREATE FUNCTION herald_integration_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('herald_integrations', coalesce(NEW.id, OLD.id));
    RETURN NULL;
END
$$;

CREATE TRIGGER integration_notify AFTER INSERT OR UPDATE OR DELETE ON integration
    FOR EACH ROW EXECUTE FUNCTION herald_integration_notify();

-- Each integration's pace under its `rate_per_s`: when its next send may start, shared by every worker.
CREATE TABLE integration_pace (
    integration_id text PRIMARY KEY,
    next_at        timestamptz NOT NULL
);

-- Which provider (an integration's id, or an environment provider's name) each attempt went through.
ALTER TABLE delivery_attempt ADD COLUMN provider text;

-- The `chat` channel's address on a user (a Slack channel id, a Telegram chat id).
ALTER TABLE app_user ADD COLUMN chat_address text;
