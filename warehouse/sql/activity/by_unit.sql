-- 账号活跃度 by reporting unit for [$start, $end), with the previous period ([$prev_start, $prev_end)) beside it.
-- Counted: grid-worker accounts (网格员, 网格长) enabled at any time in the period.
-- Active: operations on at least $min_active_days distinct days of the period (any op_type, login included).
-- A unit with no counted accounts has rate NULL (shown "—", in no list).
WITH counted AS (
    SELECT a.account_id, a.ru_code, p.pstart, p.pend, p.which
    FROM dim_account a
    CROSS JOIN (SELECT $start::DATE AS pstart, $end::DATE AS pend, 'cur' AS which
                UNION ALL SELECT $prev_start::DATE, $prev_end::DATE, 'prev') p
    WHERE a.is_grid_worker
      AND coalesce(a.opened_at, TIMESTAMP '1900-01-01') < p.pend
      AND (a.status = '启用' OR a.closed_at IS NULL OR a.closed_at >= p.pstart)
      AND ($scope_township IS NULL OR a.township_code = $scope_township)
),
days AS (
    SELECT c.which, c.account_id, c.ru_code, count(d.day) AS active_days
    FROM counted c
    LEFT JOIN agg_account_day d ON d.account_id = c.account_id AND d.day >= c.pstart AND d.day < c.pend
    GROUP BY ALL
),
per_unit AS (
    SELECT ru_code, which, count(*) AS accounts, count(*) FILTER (active_days >= $min_active_days) AS active
    FROM days GROUP BY ALL
)
SELECT r.ru_code, r.ru_name, r.short_name, r.township_code, r.sort_order,
       coalesce(c.accounts, 0) AS accounts, coalesce(c.active, 0) AS active,
       c.active / nullif(c.accounts, 0) AS rate,
       coalesce(p.accounts, 0) AS prev_accounts, coalesce(p.active, 0) AS prev_active,
       p.active / nullif(p.accounts, 0) AS prev_rate
FROM dim_reporting_unit r
LEFT JOIN per_unit c ON c.ru_code = r.ru_code AND c.which = 'cur'
LEFT JOIN per_unit p ON p.ru_code = r.ru_code AND p.which = 'prev'
WHERE ($scope_township IS NULL OR r.township_code = $scope_township)
ORDER BY r.sort_order;
