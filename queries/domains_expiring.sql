-- title: Domains expiring soon
-- description: Domains that expire within a number of days of today or have already expired, those without auto-renew first, then the soonest.
-- param: days integer Days ahead of today to look (default: 60).
-- param: today date Day that days_left counts from (default: the current UTC date).

SELECT name,
       expires_at,
       CAST(julianday(date(expires_at)) - julianday(coalesce(:today, date('now'))) AS INTEGER) AS days_left,
       auto_renew,
       status
FROM domains
WHERE deleted_at IS NULL
  AND julianday(date(expires_at)) - julianday(coalesce(:today, date('now'))) <= coalesce(:days, 60)
ORDER BY coalesce(auto_renew, 0) = 1, expires_at, name, account_id, id;
