-- The 账号活跃度 figures of the county (or the caller's 乡镇, or one reporting unit $ru_code) for [$start, $end), one row, with the previous period
-- [$prev_start, $prev_end) beside every figure as prev_<name> (环比): the account columns of overview/headline
-- (same definitions, m_account_activity) without its event, key-person and collection figures, for the
-- 账号活跃度 page.
--   accounts, active, activity_rate                 grid-worker accounts (网格员, 网格长)
--   dept_accounts, dept_active, dept_activity_rate  派出所/司法所/卫生院 accounts (of $ru_code: those of its 乡镇)
WITH a AS (
    SELECT count(*) FILTER (period = 'cur' AND is_grid_worker) AS accounts,
           count(*) FILTER (period = 'cur' AND is_grid_worker AND active) AS active,
           count(*) FILTER (period = 'cur' AND dept_kind IS NOT NULL) AS dept_accounts,
           count(*) FILTER (period = 'cur' AND dept_kind IS NOT NULL AND active) AS dept_active,
           count(*) FILTER (period = 'prev' AND is_grid_worker) AS prev_accounts,
           count(*) FILTER (period = 'prev' AND is_grid_worker AND active) AS prev_active,
           count(*) FILTER (period = 'prev' AND dept_kind IS NOT NULL) AS prev_dept_accounts,
           count(*) FILTER (period = 'prev' AND dept_kind IS NOT NULL AND active) AS prev_dept_active
    FROM m_account_activity(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), $min_active_days, $week_active_days)
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
      AND ($ru_code IS NULL OR (is_grid_worker AND ru_code = $ru_code)
           OR (dept_kind IS NOT NULL AND township_code = (SELECT township_code FROM dim_reporting_unit WHERE ru_code = $ru_code)))
)
SELECT accounts, active, m_activity_rate(active, accounts) AS activity_rate,
       dept_accounts, dept_active, m_activity_rate(dept_active, dept_accounts) AS dept_activity_rate,
       prev_accounts, prev_active, m_activity_rate(prev_active, prev_accounts) AS prev_activity_rate,
       prev_dept_accounts, prev_dept_active,
       m_activity_rate(prev_dept_active, prev_dept_accounts) AS prev_dept_activity_rate
FROM a;
