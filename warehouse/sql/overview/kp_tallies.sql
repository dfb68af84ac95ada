-- 三项重点工作 by category for [$start, $end), previous period beside it: reports (报送数), reports signed by every
-- office, sign-offs needed / signed before the cut-off $cutoff (NULL: the period's end) and 签收率. Every
-- configured category, in the contract's order (zeros included); 未知类别 (reports whose category is not in the
-- contract, m_category: counted, needing no sign-off), last, when there are any in scope.
-- Of one reporting unit $ru_code (NULL: all in scope).
WITH rep AS (
    SELECT period, category, count(*) AS reports, count(*) FILTER (fully_signed) AS fully_signed
    FROM m_kp_reports(m_cur_prev($start, $end, $prev_start, $prev_end), m_grace($cutoff, $end))
    WHERE ($scope_township IS NULL OR township_code = $scope_township) AND ($ru_code IS NULL OR ru_code = $ru_code)
      AND ($scope_office IS NULL OR police_station = $scope_office OR justice_office = $scope_office
           OR health_center = $scope_office)
    GROUP BY ALL
),
sig AS (
    SELECT period, category, count(*) AS needed, count(*) FILTER (signed) AS signed
    FROM m_kp_signoffs(m_cur_prev($start, $end, $prev_start, $prev_end), m_grace($cutoff, $end))
    WHERE ($scope_township IS NULL OR township_code = $scope_township) AND ($ru_code IS NULL OR ru_code = $ru_code)
      AND ($scope_office IS NULL OR office_name = $scope_office)
    GROUP BY ALL
),
cats AS (
    SELECT category, string_agg(office_kind, '、' ORDER BY m_office_order(office_kind)) AS offices
    FROM cfg_kp_office GROUP BY ALL
    UNION ALL
    SELECT DISTINCT category, NULL FROM rep WHERE category NOT IN (SELECT category FROM cfg_kp_office)
)
SELECT k.category, k.offices,
       coalesce(c.reports, 0) AS reports, coalesce(c.fully_signed, 0) AS fully_signed,
       coalesce(s.needed, 0) AS signoffs_needed, coalesce(s.signed, 0) AS signoffs_signed,
       m_sign_rate(s.signed, s.needed) AS sign_rate,
       coalesce(pc.reports, 0) AS prev_reports, coalesce(ps.needed, 0) AS prev_signoffs_needed,
       coalesce(ps.signed, 0) AS prev_signoffs_signed, m_sign_rate(ps.signed, ps.needed) AS prev_sign_rate
FROM cats k
LEFT JOIN rep c ON c.period = 'cur' AND c.category = k.category
LEFT JOIN sig s ON s.period = 'cur' AND s.category = k.category
LEFT JOIN rep pc ON pc.period = 'prev' AND pc.category = k.category
LEFT JOIN sig ps ON ps.period = 'prev' AND ps.category = k.category
ORDER BY coalesce(list_position(['流动人口', '吸毒人员', '严重精神障碍患者', '社区矫正人员', '刑满释放人员'], k.category), 99),
         k.category;
