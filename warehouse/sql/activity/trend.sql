-- 账号活跃度 by month: the $months_back calendar months up to $end (exclusive; a month still running is cut at
-- $end and needs proportionally fewer active days), oldest first. Grid workers and department accounts apart;
-- of one reporting unit $ru_code (NULL: all in scope; department accounts: those of its 乡镇).
WITH m AS (SELECT unnest(m_months($end, $months_back), recursive := true)),
acc AS (
    SELECT period,
           count(*) FILTER (is_grid_worker) AS accounts,
           count(*) FILTER (is_grid_worker AND active) AS active,
           count(*) FILTER (dept_kind IS NOT NULL) AS dept_accounts,
           count(*) FILTER (dept_kind IS NOT NULL AND active) AS dept_active
    FROM m_account_activity(m_months($end, $months_back), $min_active_days, $week_active_days)
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
      AND ($ru_code IS NULL OR (is_grid_worker AND ru_code = $ru_code)
           OR (dept_kind IS NOT NULL AND township_code = (SELECT township_code FROM dim_reporting_unit WHERE ru_code = $ru_code)))
    GROUP BY ALL
)
SELECT m.label AS month, m.ps AS period_start, m.pe AS period_end,
       coalesce(a.accounts, 0) AS accounts, coalesce(a.active, 0) AS active,
       m_activity_rate(a.active, a.accounts) AS rate,
       coalesce(a.dept_accounts, 0) AS dept_accounts, coalesce(a.dept_active, 0) AS dept_active,
       m_activity_rate(a.dept_active, a.dept_accounts) AS dept_rate
FROM m LEFT JOIN acc a ON a.period = m.label
ORDER BY m.ps;
