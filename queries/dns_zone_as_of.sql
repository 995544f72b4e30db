-- title: DNS zone as of a time
-- description: The DNS records each domain had at a point in time, rebuilt from the change history, so records deleted since then are listed too.
-- param: domain text Domain name, such as example.com (default: all domains).
-- param: as_of timestamp Point in time (default: now).

SELECT domain,
       name,
       type,
       value,
       ttl,
       priority,
       id AS record_id
FROM dns_record_versions
-- Times are compared in one fixed form because the archive writes fractional seconds only when
-- they are not zero, and `40.5Z` sorts before `40Z` as text.
WHERE strftime('%Y-%m-%dT%H:%M:%fZ', valid_from)
          <= strftime('%Y-%m-%dT%H:%M:%fZ', coalesce(:as_of, 'now'))
  AND (valid_to IS NULL
       OR strftime('%Y-%m-%dT%H:%M:%fZ', valid_to) > strftime('%Y-%m-%dT%H:%M:%fZ', coalesce(:as_of, 'now')))
  AND (:domain IS NULL OR domain = :domain)
ORDER BY domain, name, type, value, record_id, account_id, domain_id;
