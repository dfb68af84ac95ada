-- 账号活跃度 per department office (派出所, 司法所, 卫生院: dim_office) for [$start, $end), previous period beside it.
-- An office counts its own accounts (dim_account.dept_name). An office known only from the reports sent to it has
-- no account: rate NULL ("—"). grp: '有活跃' (rate > 0), '为0', '—' — the bulletin names the offices above 0.
-- Order: the county's order of 乡镇, then 派出所, 司法所, 卫生院. $ru_code (NULL: all): the offices of its 乡镇.
WITH acc AS (
    SELECT period, dept_name AS office_name, count(*) AS accounts, count(*) FILTER (active) AS active,
           avg(active_days) AS avg_active_days
    FROM m_account_activity(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), $min_active_days, $week_active_days)
    WHERE dept_kind IS NOT NULL AND dept_name IS NOT NULL
    GROUP BY ALL
),
town AS (SELECT township_code, min(sort_order) AS town_order FROM dim_reporting_unit GROUP BY ALL),
office AS (
    SELECT o.office_name, o.office_kind, o.township_code, o.township_name, o.has_account,
           CAST(row_number() OVER (ORDER BY t.town_order NULLS LAST, o.township_code,
                                   m_office_order(o.office_kind), o.office_name)
                AS INTEGER) AS sort_order,
           coalesce(c.accounts, 0) AS accounts, coalesce(c.active, 0) AS active,
           m_activity_rate(c.active, c.accounts) AS rate, c.avg_active_days,
           coalesce(p.accounts, 0) AS prev_accounts, coalesce(p.active, 0) AS prev_active,
           m_activity_rate(p.active, p.accounts) AS prev_rate
    FROM dim_office o
    LEFT JOIN town t ON t.township_code = o.township_code
    LEFT JOIN acc c ON c.office_name = o.office_name AND c.period = 'cur'
    LEFT JOIN acc p ON p.office_name = o.office_name AND p.period = 'prev'
    WHERE ($scope_township IS NULL OR o.township_code = $scope_township)
      AND ($scope_office IS NULL OR o.office_name = $scope_office)
      AND ($ru_code IS NULL OR o.township_code = (SELECT township_code FROM dim_reporting_unit WHERE ru_code = $ru_code))
)
SELECT *, rate - prev_rate AS change,
       CASE WHEN rate IS NULL THEN '—' WHEN rate > 0 THEN '有活跃' ELSE '为0' END AS grp
FROM office
ORDER BY sort_order;
