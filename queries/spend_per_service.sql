-- title: Spend per service
-- description: Invoice line items summed per service and currency, largest amount first. Void and deleted invoices are left out, and line items without a service add up in one row with an empty service_id.
-- param: since date First invoice issue date included (default: all time).
-- param: until date First invoice issue date excluded (default: no end).

SELECT li.service_id,
       s.label,
       i.currency,
       count(*) AS line_item_count,
       sum(li.amount_cents) AS amount_cents,
       round(sum(li.amount_cents) / 100.0, 2) AS amount
FROM invoice_line_items li
JOIN invoices i ON i.account_id = li.account_id AND i.id = li.invoice_id
LEFT JOIN services s ON s.account_id = li.account_id AND s.id = li.service_id
WHERE li.deleted_at IS NULL
  AND i.deleted_at IS NULL
  AND i.status IS NOT 'void'
  AND (:since IS NULL OR i.issued_at >= :since)
  AND (:until IS NULL OR i.issued_at < :until)
GROUP BY li.account_id, li.service_id, i.currency
ORDER BY amount_cents DESC, li.service_id, i.currency, li.account_id;
