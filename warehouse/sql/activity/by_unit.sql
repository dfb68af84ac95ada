-- 账号活跃度 per reporting unit (报告单位), grid-worker accounts (网格员, 网格长), for [$start, $end) with the
-- previous period [$prev_start, $prev_end) beside it (环比), and the bulletin group of the period:
--   '100%'      rate = 100%
--   '相对较好'  $activity_good ≤ rate < 100%
--   '相对较差'  0 < rate < $activity_good
--   '为0'       rate = 0
--   '—'         no counted accounts: rate NULL, shown "—", in no list
-- Counting and activity rules: m_account_activity (warehouse/schema/50_metrics.sql).
WITH acc AS (
    SELECT period, ru_code, count(*) AS accounts, count(*) FILTER (active) AS active,
           avg(active_days) AS avg_active_days
    FROM m_account_activity(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), $min_active_days, $week_active_days)
    WHERE is_grid_worker AND ($scope_township IS NULL OR township_code = $scope_township)
    GROUP BY ALL
),
unit AS (
    SELECT r.ru_code, r.ru_name, r.short_name, r.township_code, r.township_name, r.sort_order,
           coalesce(c.accounts, 0) AS accounts, coalesce(c.active, 0) AS active,
           m_activity_rate(c.active, c.accounts) AS rate, c.avg_active_days,
           coalesce(p.accounts, 0) AS prev_accounts, coalesce(p.active, 0) AS prev_active,
           m_activity_rate(p.active, p.accounts) AS prev_rate
    FROM dim_reporting_unit r
    LEFT JOIN acc c ON c.ru_code = r.ru_code AND c.period = 'cur'
    LEFT JOIN acc p ON p.ru_code = r.ru_code AND p.period = 'prev'
    WHERE ($scope_township IS NULL OR r.township_code = $scope_township)
)
SELECT *, rate - prev_rate AS change,
       CASE WHEN rate IS NULL THEN '—' WHEN rate >= 1 THEN '100%' WHEN rate >= $activity_good THEN '相对较好'
            WHEN rate > 0 THEN '相对较差' ELSE '为0' END AS grp
FROM unit
ORDER BY sort_order;
