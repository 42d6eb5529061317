-- One attempt of a delivery at a time. An attempt holds its delivery's lease while it talks to the provider;
-- another attempt (a retry on another worker after this one's worker died or stalled) finds it held and does
-- not send. The lease expires on its own, so a dead holder cannot block the delivery for longer than one
-- attempt's budget. No foreign key: an attempt can run before an escalation's delivery row exists, and a row
-- is deleted when its attempt ends.

CREATE TABLE delivery_lease (
    notification_id text NOT NULL,
    channel         text NOT NULL,
    holder          text NOT NULL,
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (notification_id, channel)
);
