-- Throttle: a notification with `throttle` {"limit", "period", "mode"} takes a slot per user and category
-- when it is due; past `limit` slots in the sliding period it is skipped (mode skip) or held (mode delay).
ALTER TABLE notification ADD COLUMN throttle jsonb;

CREATE TABLE throttle_slot (
    notification_id text PRIMARY KEY REFERENCES notification (id) ON DELETE CASCADE,
    user_id         text NOT NULL,
    category        text NOT NULL,
    at              timestamptz NOT NULL
);
CREATE INDEX throttle_slot_user_category_idx ON throttle_slot (user_id, category, at);
