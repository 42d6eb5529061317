-- Suppressions: addresses Herald will not send to on a channel, whoever asks and whatever the priority. The
-- address is stored normalized (emails lowercased, phone numbers in E.164), so one address is one row.
CREATE TABLE suppression (
    channel    text NOT NULL,
    address    text NOT NULL,
    reason     text NOT NULL,
    -- who added it: `api` (the REST API and the CLI), `dashboard`, or `feedback` (a vendor's hard bounce or
    -- complaint)
    source     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, address)
);
CREATE INDEX suppression_created_idx ON suppression (created_at DESC, channel, address);

-- When the provider reported that the message arrived. A delivery's status also gains the final values
-- bounced, complained and undelivered, which only vendor feedback writes and nothing overwrites.
ALTER TABLE delivery ADD COLUMN confirmed_at timestamptz;

-- Feedback names a message by the id its provider gave it, which the receipt holds from the moment of the send.
CREATE INDEX delivery_receipt_message_idx ON delivery_receipt (provider_message_id);

-- Each vendor event applied, once: vendors repeat callbacks until they get a 2xx. Only events that matched a
-- delivery are kept; an unknown message id leaves no row.
CREATE TABLE feedback_event (
    source          text NOT NULL,
    event_id        text NOT NULL,
    notification_id text NOT NULL REFERENCES notification (id) ON DELETE CASCADE,
    channel         text NOT NULL,
    kind            text NOT NULL,
    applied_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id, notification_id, channel)
);
CREATE INDEX feedback_event_notification_idx ON feedback_event (notification_id);
