-- title: Invoice totals by month and currency
-- description: Number and sum of invoices per issue month (YYYY-MM, UTC) and currency, leaving out void and deleted invoices.
-- param: since date First issue date included (default: all time).
-- param: until date First issue date excluded (default: no end).

SELECT substr(issued_at, 1, 7) AS month,
       currency,
       count(*) AS invoice_count,
       sum(total_cents) AS total_cents,
       round(sum(total_cents) / 100.0, 2) AS total
FROM invoices
WHERE deleted_at IS NULL
  AND status IS NOT 'void'
  AND (:since IS NULL OR issued_at >= :since)
  AND (:until IS NULL OR issued_at < :until)
GROUP BY month, currency
ORDER BY month, currency;
