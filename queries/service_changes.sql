-- title: Service changes
-- description: Services created, deleted or restored, and changes of a service's status, tier or label, that a sync observed in a time window, oldest first.
-- param: since timestamp First observation time included (default: 30 days before the current UTC date, at midnight).
-- param: until timestamp First observation time excluded (default: no end).
-- param: include_initial integer Any non-zero value includes the initial import, the inserts made by the first complete sync of services (default: 0, the initial import is left out).

SELECT h.observed_at,
       h.entity_id AS service_id,
       -- The archive's latest label names the service even after a rename or a deletion.
       coalesce(s.label, json_extract(h.after_json, '$.label'), json_extract(h.before_json, '$.label')) AS label,
       h.op AS operation,
       json_extract(h.before_json, '$.status') AS old_status,
       json_extract(h.after_json, '$.status') AS new_status,
       json_extract(h.before_json, '$.tier') AS old_tier,
       json_extract(h.after_json, '$.tier') AS new_tier,
       json_extract(h.before_json, '$.label') AS old_label,
       json_extract(h.after_json, '$.label') AS new_label
FROM history h
LEFT JOIN services s ON s.account_id = h.account_id AND s.id = h.entity_id
WHERE h.entity = 'services'
  AND (h.op IN ('insert', 'delete', 'restore')
       OR json_extract(h.before_json, '$.status') IS NOT json_extract(h.after_json, '$.status')
       OR json_extract(h.before_json, '$.tier') IS NOT json_extract(h.after_json, '$.tier')
       OR json_extract(h.before_json, '$.label') IS NOT json_extract(h.after_json, '$.label'))
  -- Times are compared in one fixed form because the archive writes fractional seconds only
  -- when they are not zero, and `40.5Z` sorts before `40Z` as text.
  AND strftime('%Y-%m-%dT%H:%M:%fZ', h.observed_at)
          >= strftime('%Y-%m-%dT%H:%M:%fZ', coalesce(:since, date('now', '-30 days')))
  AND (:until IS NULL OR strftime('%Y-%m-%dT%H:%M:%fZ', h.observed_at) < strftime('%Y-%m-%dT%H:%M:%fZ', :until))
  AND (coalesce(:include_initial, 0) <> 0 OR h.initial = 0)
ORDER BY strftime('%Y-%m-%dT%H:%M:%fZ', h.observed_at), service_id, h.id;
