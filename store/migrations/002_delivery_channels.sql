-- Real channels: an optional HTML body per template version, and the provider receipt of each delivery.

ALTER TABLE template_version ADD COLUMN html text;

-- Written the moment a provider accepts a message, before Temporal hears of it: every attempt checks it
-- first, so a retry, a redrive or a second worker never sends a delivered message again.
CREATE TABLE delivery_receipt (
    notification_id     text NOT NULL REFERENCES notification (id) ON DELETE CASCADE,
    channel             text NOT NULL,
    provider            text NOT NULL,
    provider_message_id text NOT NULL,
    attempt             integer NOT NULL,
    at                  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notification_id, channel)
);
