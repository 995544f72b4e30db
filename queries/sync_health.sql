-- title: Sync health
-- description: One row per account and resource: its last sync, that sync's error if it did not succeed, the age of its last complete listing, recent failures, and whether it is stale (never listed completely, or not within max_age_hours).
-- param: today date Last day of the 7-day window that failures_7d counts (default: the current UTC date).
-- param: max_age_hours integer Age in hours after which a resource's last complete listing makes it stale (default: 48).

WITH listings AS (
    SELECT r.account_id, rr.resource, rr.run_id, rr.status, rr.complete, rr.mode, rr.error, r.started_at
    FROM sync_run_resources rr
    JOIN sync_runs r ON r.id = rr.run_id
    WHERE r.account_id IS NOT NULL
),
resources AS (
    SELECT account_id, resource FROM sync_state
    UNION
    SELECT account_id, resource FROM listings
),
health AS (
    SELECT k.account_id,
           k.resource,
           last.run_id AS last_run_id,
           last.status AS last_status,
           CASE WHEN last.status IN ('failed', 'incomplete') THEN last.error END AS last_error,
           -- `sync_state` has no row for the account profile, which every run fetches whole, so
           -- the start of the newest run that listed the resource completely in full mode is used.
           coalesce(
               s.last_full_at,
               (SELECT max(f.started_at) FROM listings f
                WHERE f.account_id = k.account_id AND f.resource = k.resource
                  AND f.status = 'succeeded' AND f.complete = 1 AND f.mode = 'full')
           ) AS last_full_at,
           (SELECT count(*) FROM listings f
            WHERE f.account_id = k.account_id AND f.resource = k.resource
              AND f.status IN ('failed', 'incomplete')
              AND f.started_at >= date(coalesce(:today, date('now')), '-6 days')
              AND f.started_at < date(coalesce(:today, date('now')), '+1 day')) AS failures_7d
    FROM resources k
    LEFT JOIN sync_state s ON s.account_id = k.account_id AND s.resource = k.resource
    LEFT JOIN listings last ON last.account_id = k.account_id AND last.resource = k.resource
        AND last.run_id = (SELECT max(run_id) FROM listings l
                           WHERE l.account_id = k.account_id AND l.resource = k.resource)
)
SELECT account_id,
       resource,
       last_run_id,
       last_status,
       last_error,
       last_full_at,
       round((julianday('now') - julianday(last_full_at)) * 24, 1) AS hours_since_full,
       failures_7d,
       CASE WHEN last_full_at IS NULL
                 OR (julianday('now') - julianday(last_full_at)) * 24 > coalesce(:max_age_hours, 48)
            THEN 1 ELSE 0 END AS stale
FROM health
ORDER BY account_id, resource;
