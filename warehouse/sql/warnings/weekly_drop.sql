-- 预警 activity_drop and completion_drop (docs/metrics.md "预警"): a reporting unit's weekly 网格员账号活跃度
-- (m_account_activity, an ISO week: active on ≥ $week_active_days of its 7 days) or 事件办结率 (m_event_activity:
-- closed in the week / reported in it) in the last complete Mon–Sun week up to $as_of (a DATE: data up to the end
-- of that day) at least $drop_points (activity) / $completion_drop_points (completion, and then under
-- $completion_low: a small unit's weekly completion swings by tens of points from week to week) percentage points
-- below the week before.
-- Judged only when both weeks count ≥ $min_accounts grid-worker accounts (activity) or ≥ $min_events events
-- reported (completion). A completion rate over 100% (a backlog cleared) counts as 100% in the comparison (`capped`):
-- falling from 180% to 90% is no collapse. first_seen: the Sunday ending the earliest week of the unbroken run of weeks, each at
-- least $drop_points below its previous one, that ends with the last complete week (traced $history_weeks back).
-- Reporting units only: a 乡镇 user sees its own, a 部门用户 none.
WITH w AS (SELECT CAST(date_trunc('week', CAST($as_of AS DATE) + 1) AS DATE) AS we),
wk AS (
    SELECT list_transform(range(0, CAST($history_weeks AS BIGINT) + 1),
                          lambda i: m_period(CAST(i AS VARCHAR), we - CAST(7 * (i + 1) AS INTEGER),
                                             we - CAST(7 * i AS INTEGER))) AS periods
    FROM w
),
act AS (
    SELECT CAST(period AS INTEGER) AS i, ru_code, count(*) AS n, count(*) FILTER (active) AS k
    FROM m_account_activity((SELECT periods FROM wk), $min_active_days, $week_active_days)
    WHERE is_grid_worker GROUP BY ALL
),
ev AS (
    SELECT CAST(period AS INTEGER) AS i, ru_code, count(*) FILTER (reported) AS n, count(*) FILTER (closed) AS k
    FROM m_event_activity((SELECT periods FROM wk))
    GROUP BY ALL
),
series AS (
    SELECT 'activity_drop' AS rule, i, ru_code, n, k, m_activity_rate(k, n) AS rate, m_activity_rate(k, n) AS capped,
           n >= $min_accounts AS judged
    FROM act
    UNION ALL
    SELECT 'completion_drop', i, ru_code, n, k, m_completion_rate(k, n), least(m_completion_rate(k, n), 1.0),
           n >= $min_events
    FROM ev
),
cond AS (
    SELECT c.rule, c.i, c.ru_code, c.rate AS cur, p.rate AS prev, c.capped AS cur_capped, p.capped AS prev_capped,
           c.n AS cur_n, c.k AS cur_k, p.n AS prev_n, p.k AS prev_k,
           coalesce(c.judged AND p.judged
                    AND CASE c.rule WHEN 'activity_drop' THEN p.capped - c.capped >= $drop_points / 100.0
                             ELSE p.capped - c.capped >= $completion_drop_points / 100.0 AND c.capped < $completion_low
                        END, FALSE) AS hit
    FROM series c JOIN series p ON p.rule = c.rule AND p.ru_code = c.ru_code AND p.i = c.i + 1
),
runs AS (
    SELECT g.rule, g.ru_code, min(g.i) FILTER (NOT coalesce(c.hit, FALSE)) AS first_miss
    FROM (SELECT r.ru_code, x.rule, unnest(range(0, CAST($history_weeks AS BIGINT))) AS i
          FROM dim_reporting_unit r CROSS JOIN (VALUES ('activity_drop'), ('completion_drop')) x(rule)) g
    LEFT JOIN cond c ON c.rule = g.rule AND c.ru_code = g.ru_code AND c.i = g.i
    GROUP BY ALL
)
SELECT c.rule, r.ru_code, r.ru_name, r.short_name, r.township_code, r.sort_order,
       (SELECT we FROM w) - 7 AS week_start, c.cur, c.prev, c.cur_capped, c.prev_capped, c.cur_n, c.cur_k, c.prev_n, c.prev_k,
       coalesce(u.first_miss, $history_weeks) AS weeks_running,
       (SELECT we FROM w) - CAST(7 * (coalesce(u.first_miss, $history_weeks) - 1) AS INTEGER) - 1 AS first_seen
FROM cond c
JOIN runs u ON u.rule = c.rule AND u.ru_code = c.ru_code
JOIN dim_reporting_unit r ON r.ru_code = c.ru_code
WHERE c.i = 0 AND c.hit
  AND ($scope_township IS NULL OR r.township_code = $scope_township)
  AND $scope_office IS NULL
ORDER BY c.rule, c.prev_capped - c.cur_capped DESC, r.sort_order;
