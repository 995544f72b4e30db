-- title: DNS record changes
-- description: Every insert, update, delete and restore of a DNS record that a sync observed in a time window, oldest first.
-- param: since timestamp First observation time included (default: 30 days before the current UTC date, at midnight).
-- param: until timestamp First observation time excluded (default: no end).
-- param: domain text Domain name, such as example.com (default: all domains).
-- param: include_initial integer Any non-zero value includes the initial import, the inserts made by the first complete sync of DNS records (default: 0, the initial import is left out).

SELECT observed_at,
       domain,
       record_name,
       type,
       operation,
       old_value,
       new_value,
       old_ttl,
       new_ttl,
       old_priority,
       new_priority
FROM dns_record_changes
-- Times are compared in one fixed form because the archive writes fractional seconds only when
-- they are not zero, and `40.5Z` sorts before `40Z` as text.
WHERE strftime('%Y-%m-%dT%H:%M:%fZ', observed_at)
          >= strftime('%Y-%m-%dT%H:%M:%fZ', coalesce(:since, date('now', '-30 days')))
  AND (:until IS NULL OR strftime('%Y-%m-%dT%H:%M:%fZ', observed_at) < strftime('%Y-%m-%dT%H:%M:%fZ', :until))
  AND (:domain IS NULL OR domain = :domain)
  AND (coalesce(:include_initial, 0) <> 0 OR initial = 0)
ORDER BY strftime('%Y-%m-%dT%H:%M:%fZ', observed_at), domain, record_id, history_id;
