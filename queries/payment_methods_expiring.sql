-- title: Payment methods expiring soon
-- description: Saved cards (payment methods with an expiry month) that expire within a number of months of today or have already expired, soonest first.
-- param: months integer Months after the current one to look ahead, so 0 means only cards expiring this month or earlier (default: 3).
-- param: today date Day whose month months_left counts from (default: the current UTC date).

WITH cards AS (
    SELECT account_id,
           id,
           brand,
           last4,
           exp_month,
           exp_year,
           is_default,
           (exp_year * 12 + exp_month)
               - (CAST(strftime('%Y', coalesce(:today, date('now'))) AS INTEGER) * 12
                  + CAST(strftime('%m', coalesce(:today, date('now'))) AS INTEGER)) AS months_left
    FROM payment_methods
    WHERE deleted_at IS NULL
      AND exp_year IS NOT NULL
      AND exp_month IS NOT NULL
)
SELECT brand,
       last4,
       exp_month,
       exp_year,
       -- A card is valid through the last day of its expiry month.
       date(printf('%04d-%02d-01', exp_year, exp_month), '+1 month', '-1 day') AS expires_on,
       months_left,
       is_default,
       id
FROM cards
WHERE months_left <= coalesce(:months, 3)
ORDER BY exp_year, exp_month, id, account_id;
