-- 账号活跃度 per 网格 of one reporting unit ($ru_code) and optionally one 社区/村 ($community_code); NULL = all in
-- scope. Accounts belonging to the grid (网格员, 网格长 whose unit is the grid), [$start, $end), previous beside it.
WITH acc AS (
    SELECT period, unit_code AS grid_code, count(*) AS accounts, count(*) FILTER (active) AS active,
           avg(active_days) AS avg_active_days
    FROM m_account_activity(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), $min_active_days, $week_active_days)
    WHERE is_grid_worker AND unit_level = '网格'
      AND ($scope_township IS NULL OR township_code = $scope_township)
      AND ($ru_code IS NULL OR ru_code = $ru_code)
      AND ($community_code IS NULL OR community_code = $community_code)
    GROUP BY ALL
)
SELECT u.unit_code AS grid_code, u.unit_name AS grid_name, u.unit_kind AS grid_kind, u.households,
       u.community_code, u.community_name, u.township_code, u.township_name, u.ru_code,
       coalesce(c.accounts, 0) AS accounts, coalesce(c.active, 0) AS active,
       m_activity_rate(c.active, c.accounts) AS rate, c.avg_active_days,
       coalesce(p.accounts, 0) AS prev_accounts, coalesce(p.active, 0) AS prev_active,
       m_activity_rate(p.active, p.accounts) AS prev_rate
FROM dim_unit u
LEFT JOIN acc c ON c.grid_code = u.unit_code AND c.period = 'cur'
LEFT JOIN acc p ON p.grid_code = u.unit_code AND p.period = 'prev'
WHERE u.level = '网格'
  AND ($scope_township IS NULL OR u.township_code = $scope_township)
  AND ($ru_code IS NULL OR u.ru_code = $ru_code)
  AND ($community_code IS NULL OR u.community_code = $community_code)
ORDER BY u.unit_code;
