-- 三项重点工作 per reporting unit over every category for [$start, $end), previous period beside it — the
-- 三项重点工作 page's "全部类别" view, for every role that has the page (a 部门用户 included: no county ranking).
-- The same rules as kp/by_category_unit (m_kp_reports, m_kp_signoffs, m_sign_rate), summed over the categories.
-- $ru_code (NULL: every unit in scope). A 部门用户 ($scope_office) sees the reports addressed to the office, and
-- only the office's own sign-offs.
WITH rep AS (
    SELECT period, ru_code, count(*) AS reported, count(*) FILTER (fully_signed) AS fully_signed
    FROM m_kp_reports(m_cur_prev($start, $end, $prev_start, $prev_end), m_grace($cutoff, $end))
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
      AND ($scope_office IS NULL OR police_station = $scope_office OR justice_office = $scope_office
           OR health_center = $scope_office)
    GROUP BY ALL
),
sig AS (
    SELECT period, ru_code, count(*) AS needed, count(*) FILTER (signed) AS signed
    FROM m_kp_signoffs(m_cur_prev($start, $end, $prev_start, $prev_end), m_grace($cutoff, $end))
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
      AND ($scope_office IS NULL OR office_name = $scope_office)
    GROUP BY ALL
)
SELECT r.ru_code, r.ru_name, r.short_name, r.township_code, r.sort_order,
       coalesce(c.reported, 0) AS reported, coalesce(s.needed, 0) AS needed, coalesce(s.signed, 0) AS signed,
       m_sign_rate(s.signed, s.needed) AS sign_rate,
       coalesce(c.fully_signed, 0) AS fully_signed, c.fully_signed / nullif(c.reported, 0) AS fully_signed_rate,
       coalesce(pc.reported, 0) AS prev_reported, m_sign_rate(ps.signed, ps.needed) AS prev_sign_rate
FROM dim_reporting_unit r
LEFT JOIN rep c ON c.period = 'cur' AND c.ru_code = r.ru_code
LEFT JOIN sig s ON s.period = 'cur' AND s.ru_code = r.ru_code
LEFT JOIN rep pc ON pc.period = 'prev' AND pc.ru_code = r.ru_code
LEFT JOIN sig ps ON ps.period = 'prev' AND ps.ru_code = r.ru_code
WHERE ($scope_township IS NULL OR r.township_code = $scope_township)
  AND ($ru_code IS NULL OR r.ru_code = $ru_code)
ORDER BY r.sort_order;
