-- Herald's read model. Temporal owns each notification's life; these tables are what the API and the
-- dashboard query. Written only by the API and by activities.

CREATE TABLE template (
    name        text PRIMARY KEY,
    latest_version integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);

-- Every version stays readable: notifications pin the version they were accepted with.
CREATE TABLE template_version (
    name        text NOT NULL REFERENCES template (name),
    version     integer NOT NULL,
    subject     text,
    body        text NOT NULL,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

CREATE TABLE app_user (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    email       text,
    phone       text,
    push_token  text,
    webhook_url text,
    locale      text,
    timezone    text,
    topics      text[] NOT NULL DEFAULT '{}',
    preferences jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_token (
    token_hash  text PRIMARY KEY,
    user_id     text NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notification (
    id               text PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    request_hash     text NOT NULL,
    workflow_id      text NOT NULL UNIQUE,
    status           text NOT NULL,
    user_id          text,
    recipient        jsonb NOT NULL DEFAULT '{}'::jsonb,
    channels         text[] NOT NULL,
    priority         text NOT NULL,
    category         text,
    template         text NOT NULL,
    template_version integer NOT NULL,
    data             jsonb NOT NULL DEFAULT '{}'::jsonb,
    send_at          timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX notification_created_idx ON notification (created_at DESC, id DESC);
CREATE INDEX notification_status_idx ON notification (status);
CREATE INDEX notification_user_idx ON notification (user_id);

CREATE TABLE delivery (
    notification_id     text NOT NULL REFERENCES notification (id) ON DELETE CASCADE,
    channel             text NOT NULL,
    status              text NOT NULL,
    provider            text,
    attempts            integer NOT NULL DEFAULT 0,
    provider_message_id text,
    last_error          text,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notification_id, channel)
);

CREATE TABLE notification_event (
    id              bigserial PRIMARY KEY,
    notification_id text NOT NULL REFERENCES notification (id) ON DELETE CASCADE,
    at              timestamptz NOT NULL,
    event           text NOT NULL,
    detail          text NOT NULL DEFAULT ''
);
CREATE INDEX notification_event_idx ON notification_event (notification_id, at, id);

-- One row per delivery attempt, written by the provider call itself (the workflow only sees the outcome).
CREATE TABLE delivery_attempt (
    notification_id text NOT NULL REFERENCES notification (id) ON DELETE CASCADE,
    channel         text NOT NULL,
    attempt         integer NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    outcome         text NOT NULL,
    error           text,
    PRIMARY KEY (notification_id, channel, attempt)
);

-- The in-app inbox. One item per notification: the primary key makes the in_app send exactly once.
CREATE TABLE inbox_item (
    notification_id text PRIMARY KEY REFERENCES notification (id) ON DELETE CASCADE,
    user_id         text NOT NULL,
    subject         text,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz
);
CREATE INDEX inbox_item_user_idx ON inbox_item (user_id, created_at DESC);

-- A channel parked after its retries ran out; resolved_at is set by retry, discard, cancel or expiry.
CREATE TABLE dead_letter (
    id               bigserial PRIMARY KEY,
    notification_id  text NOT NULL REFERENCES notification (id) ON DELETE CASCADE,
    channel          text NOT NULL,
    error            text NOT NULL,
    attempts         integer NOT NULL,
    dead_lettered_at timestamptz NOT NULL,
    resolved_at      timestamptz,
    resolution       text
);
CREATE UNIQUE INDEX dead_letter_open_idx ON dead_letter (notification_id, channel) WHERE resolved_at IS NULL;
