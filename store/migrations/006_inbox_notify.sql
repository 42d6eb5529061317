-- Each new inbox item is announced on channel `herald_inbox` once its transaction commits, so the API can
-- push it to the user's open streams (GET /v1/users/{id}/inbox/stream) without polling. A trigger rather than
-- a pg_notify in the provider: every path that inserts an item announces it, and only when it is committed.
CREATE FUNCTION herald_inbox_item_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('herald_inbox',
                      json_build_object('user_id', NEW.user_id, 'notification_id', NEW.notification_id)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER inbox_item_notify AFTER INSERT ON inbox_item
    FOR EACH ROW EXECUTE FUNCTION herald_inbox_item_notify();
