-- 预警 effective_gap (docs/metrics.md "预警"): a reporting unit whose 有效活跃度 (grid-worker accounts active on
-- enough days with substantive work, m_account_activity `effective`) is at least $effective_gap_points percentage
-- points below its official 账号活跃度 (`active`, login included) in the last complete calendar month up to $as_of
-- (a DATE), with ≥ $min_accounts accounts. Both rates by m_activity_rate over the same counted accounts.
-- months_running: how many complete months in a row the gap has held (traced $history_weeks months back);
-- first_seen: the last day of the first month of the run (the first day a complete month showed it).
-- Reporting units only: a 乡镇 user sees its own, a 部门用户 none.
WITH m AS (SELECT CAST(date_trunc('month', CAST($as_of AS DATE) + 1) AS DATE) AS me),
ms AS (SELECT m_months(me, CAST($history_weeks AS BIGINT)) AS periods FROM m),
acc AS (
    SELECT CAST(date_diff('month', period_start, (SELECT me FROM m)) AS INTEGER) - 1 AS j, ru_code,
           count(*) AS n, count(*) FILTER (active) AS active, count(*) FILTER (effective) AS effective
    FROM m_account_activity((SELECT periods FROM ms), $min_active_days, $week_active_days)
    WHERE is_grid_worker
    GROUP BY ALL
),
cond AS (
    SELECT j, ru_code, n, active, effective, m_activity_rate(active, n) AS official,
           m_activity_rate(effective, n) AS eff,
           n >= $min_accounts
           AND m_activity_rate(active, n) - m_activity_rate(effective, n) >= $effective_gap_points / 100.0 - 1e-9 AS hit
    FROM acc
),
runs AS (
    SELECT g.ru_code, min(g.j) FILTER (NOT coalesce(c.hit, FALSE)) AS first_miss
    FROM (SELECT ru_code, unnest(range(0, CAST($history_weeks AS BIGINT))) AS j FROM dim_reporting_unit) g
    LEFT JOIN cond c ON c.ru_code = g.ru_code AND c.j = g.j
    GROUP BY ALL
)
SELECT 'effective_gap' AS rule, r.ru_code, r.ru_name, r.short_name, r.township_code, r.sort_order,
       CAST((SELECT me FROM m) - INTERVAL 1 MONTH AS DATE) AS month_start, c.official, c.eff AS effective_rate,
       c.n AS accounts, c.active, c.effective,
       coalesce(u.first_miss, $history_weeks) AS months_running,
       CAST((SELECT me FROM m) - to_months(CAST(coalesce(u.first_miss, $history_weeks) - 1 AS INTEGER)) AS DATE) - 1
           AS first_seen
FROM cond c
JOIN runs u ON u.ru_code = c.ru_code
JOIN dim_reporting_unit r ON r.ru_code = c.ru_code
WHERE c.j = 0 AND c.hit
  AND ($scope_township IS NULL OR r.township_code = $scope_township)
  AND $scope_office IS NULL
ORDER BY c.official - c.eff DESC, r.sort_order;
