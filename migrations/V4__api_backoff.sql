-- A rate limit the API asked for that outlasted the run that met it: the next run inside the
-- window waits (if the wait is short) or exits without sending requests.
CREATE TABLE api_backoff (
    api_url    TEXT PRIMARY KEY,
    until      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
