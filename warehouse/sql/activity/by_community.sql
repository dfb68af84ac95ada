-- 账号活跃度 per 社区/村 of one reporting unit ($ru_code; NULL = every unit in scope), grid-worker accounts,
-- for [$start, $end) with the previous period beside it. A 社区/村 with no counted accounts: rate NULL ("—").
WITH acc AS (
    SELECT period, community_code, count(*) AS accounts, count(*) FILTER (active) AS active,
           avg(active_days) AS avg_active_days
    FROM m_account_activity(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), $min_active_days, $week_active_days)
    WHERE is_grid_worker AND ($scope_township IS NULL OR township_code = $scope_township)
      AND ($ru_code IS NULL OR ru_code = $ru_code)
    GROUP BY ALL
)
SELECT u.unit_code AS community_code, u.unit_name AS community_name, u.level AS community_level,
       u.township_code, u.township_name, u.ru_code, r.short_name AS ru_short_name,
       coalesce(g.grids, 0) AS grids,
       coalesce(c.accounts, 0) AS accounts, coalesce(c.active, 0) AS active,
       m_activity_rate(c.active, c.accounts) AS rate, c.avg_active_days,
       coalesce(p.accounts, 0) AS prev_accounts, coalesce(p.active, 0) AS prev_active,
       m_activity_rate(p.active, p.accounts) AS prev_rate,
       m_activity_rate(c.active, c.accounts) - m_activity_rate(p.active, p.accounts) AS change
FROM dim_unit u
LEFT JOIN dim_reporting_unit r ON r.ru_code = u.ru_code
LEFT JOIN (SELECT community_code, count(*) AS grids FROM dim_unit WHERE level = '网格' GROUP BY ALL) g
       ON g.community_code = u.unit_code
LEFT JOIN acc c ON c.community_code = u.unit_code AND c.period = 'cur'
LEFT JOIN acc p ON p.community_code = u.unit_code AND p.period = 'prev'
WHERE u.level IN ('社区', '村')
  AND ($scope_township IS NULL OR u.township_code = $scope_township)
  AND ($ru_code IS NULL OR u.ru_code = $ru_code)
ORDER BY r.sort_order, u.unit_code;
