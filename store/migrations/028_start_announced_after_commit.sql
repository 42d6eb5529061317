-- A NOTIFY holds one lock for the whole database from its transaction's commit until the commit is on disk, so
-- transactions that notify commit one after another. The API accepts many small transactions a second: it
-- opts out (its connections set `herald.start_announce` to `after_commit`) and announces new starts itself,
-- after they committed, coalesced (services/start_announcer.py). Every other writer keeps the trigger's
-- announcement on commit.
CREATE OR REPLACE FUNCTION workflow_start_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('herald.start_announce', true) IS DISTINCT FROM 'after_commit' THEN
        PERFORM pg_notify('herald_start', '');
    END IF;
    RETURN NULL;
END $$;
