-- title: Unpaid invoices
-- description: Invoices whose status is not paid, void or refunded (open, overdue and any status the API adds), overdue first, then oldest first.
-- param: today date Day that age_days counts to (default: the current UTC date).

SELECT number,
       status,
       issued_at,
       CAST(julianday(coalesce(:today, date('now'))) - julianday(date(issued_at)) AS INTEGER) AS age_days,
       total_cents,
       round(total_cents / 100.0, 2) AS total,
       currency
FROM invoices
WHERE deleted_at IS NULL
  AND (status IS NULL OR status NOT IN ('paid', 'void', 'refunded'))
ORDER BY status IS NOT 'overdue', issued_at IS NULL, issued_at, account_id, id;
