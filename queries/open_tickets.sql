-- title: Open tickets
-- description: Support tickets that are not closed or resolved, by priority (urgent, high, normal, low, then any other), then oldest first.
-- param: today date Day that age_days and days_since_activity count to (default: the current UTC date).

SELECT t.priority,
       CAST(julianday(coalesce(:today, date('now'))) - julianday(date(t.created_at)) AS INTEGER) AS age_days,
       CAST(julianday(coalesce(:today, date('now'))) - julianday(date(t.updated_at)) AS INTEGER) AS days_since_activity,
       t.subject,
       t.status,
       s.label AS service_label,
       t.id
FROM tickets t
LEFT JOIN services s ON s.account_id = t.account_id AND s.id = t.service_id
WHERE t.deleted_at IS NULL
  AND (t.status IS NULL OR t.status NOT IN ('closed', 'resolved'))
ORDER BY CASE t.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 WHEN 'low' THEN 3 ELSE 4 END,
         age_days DESC,
         t.id,
         t.account_id;
