-- 预警 completion_low (docs/metrics.md "预警"): a reporting unit's 事件办结率 (m_event_activity: closed in the
-- month / reported in it) under $completion_low in each of the last two complete calendar months up to $as_of
-- (a DATE: data up to the end of that day), each month with ≥ $min_events events reported.
-- months_running: how many complete months in a row it has been under (traced $history_weeks months back);
-- first_seen: the last day of the second month of the run (the first day the rule held).
-- Reporting units only: a 乡镇 user sees its own, a 部门用户 none.
WITH m AS (SELECT CAST(date_trunc('month', CAST($as_of AS DATE) + 1) AS DATE) AS me),
ms AS (SELECT m_months(me, CAST($history_weeks AS BIGINT) + 1) AS periods FROM m),
ev AS (
    SELECT CAST(date_diff('month', period_start, (SELECT me FROM m)) AS INTEGER) - 1 AS j, ru_code,
           count(*) FILTER (reported) AS n, count(*) FILTER (closed) AS k
    FROM m_event_activity((SELECT periods FROM ms))
    GROUP BY ALL
),
low AS (
    SELECT j, ru_code, n, k, m_completion_rate(k, n) AS rate,
           coalesce(n >= $min_events AND m_completion_rate(k, n) < $completion_low, FALSE) AS low
    FROM ev
),
cond AS (
    SELECT c.j, c.ru_code, c.rate AS cur, p.rate AS prev, c.n AS cur_n, c.k AS cur_k, p.n AS prev_n, p.k AS prev_k,
           c.low AND p.low AS hit
    FROM low c JOIN low p ON p.ru_code = c.ru_code AND p.j = c.j + 1
),
runs AS (
    SELECT g.ru_code, min(g.j) FILTER (NOT coalesce(c.hit, FALSE)) AS first_miss
    FROM (SELECT ru_code, unnest(range(0, CAST($history_weeks AS BIGINT))) AS j FROM dim_reporting_unit) g
    LEFT JOIN cond c ON c.ru_code = g.ru_code AND c.j = g.j
    GROUP BY ALL
)
SELECT 'completion_low' AS rule, r.ru_code, r.ru_name, r.short_name, r.township_code, r.sort_order,
       CAST((SELECT me FROM m) - INTERVAL 1 MONTH AS DATE) AS month_start, c.cur, c.prev, c.cur_n, c.cur_k,
       c.prev_n, c.prev_k, coalesce(u.first_miss, $history_weeks) + 1 AS months_running,
       CAST((SELECT me FROM m) - to_months(CAST(coalesce(u.first_miss, $history_weeks) - 1 AS INTEGER)) AS DATE) - 1
           AS first_seen
FROM cond c
JOIN runs u ON u.ru_code = c.ru_code
JOIN dim_reporting_unit r ON r.ru_code = c.ru_code
WHERE c.j = 0 AND c.hit
  AND ($scope_township IS NULL OR r.township_code = $scope_township)
  AND $scope_office IS NULL
ORDER BY c.cur, r.sort_order;
