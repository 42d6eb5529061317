-- API keys with scopes, stored as SHA-256 hashes (the key itself is shown once, at creation), and the
-- per-key request rate state shared by every API process.

CREATE TABLE api_key (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    key_hash    text NOT NULL UNIQUE,
    scopes      text[] NOT NULL,
    -- Requests per second and burst for this key; NULL takes HERALD_KEY_RATE_PER_S / HERALD_KEY_BURST.
    rate_per_s  double precision,
    burst       integer,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- GCRA state: the theoretical arrival time of the next request. One row per limited key (or user token).
CREATE TABLE api_rate (
    subject text PRIMARY KEY,
    tat     timestamptz NOT NULL
);
