-- Escalation: an in_app notification with `escalate` {"after", "to"} is delivered on the `to` channels too when
-- its inbox item is still unread after `after`.
ALTER TABLE notification ADD COLUMN escalate jsonb;
