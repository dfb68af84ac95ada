-- 三项重点工作 by month and category: the $months_back calendar months up to $end (exclusive), oldest first.
-- Reports reported in the month, their sign-offs needed and signed by the month's end plus the grace of the
-- cut-off $cutoff (NULL: none; see m_grace, relative to $end). Of one reporting unit $ru_code (NULL: all in scope).
WITH m AS (SELECT unnest(m_months($end, $months_back), recursive := true)),
rep AS (
    SELECT period, category, count(*) AS reported, count(*) FILTER (fully_signed) AS fully_signed
    FROM m_kp_reports(m_months($end, $months_back), m_grace($cutoff, $end))
    WHERE ($scope_township IS NULL OR township_code = $scope_township) AND ($ru_code IS NULL OR ru_code = $ru_code)
      AND ($scope_office IS NULL OR police_station = $scope_office OR justice_office = $scope_office
           OR health_center = $scope_office)
    GROUP BY ALL
),
sig AS (
    SELECT period, category, count(*) AS needed, count(*) FILTER (signed) AS signed
    FROM m_kp_signoffs(m_months($end, $months_back), m_grace($cutoff, $end))
    WHERE ($scope_township IS NULL OR township_code = $scope_township) AND ($ru_code IS NULL OR ru_code = $ru_code)
      AND ($scope_office IS NULL OR office_name = $scope_office)
    GROUP BY ALL
),
cats AS (  -- every configured category, and 未知类别 (m_category) when reports of an unknown category are in scope
    SELECT DISTINCT category FROM cfg_kp_office
    UNION SELECT category FROM rep WHERE category = m_unknown_category()
)
SELECT m.label AS month, m.ps AS period_start, m.pe AS period_end, k.category,
       coalesce(list_position(['流动人口', '吸毒人员', '严重精神障碍患者', '社区矫正人员', '刑满释放人员'], k.category), 99)
           AS category_order,
       coalesce(r.reported, 0) AS reported, coalesce(r.fully_signed, 0) AS fully_signed,
       coalesce(s.needed, 0) AS needed, coalesce(s.signed, 0) AS signed, m_sign_rate(s.signed, s.needed) AS sign_rate
FROM m CROSS JOIN cats k
LEFT JOIN rep r ON r.period = m.label AND r.category = k.category
LEFT JOIN sig s ON s.period = m.label AND s.category = k.category
ORDER BY m.ps, category_order;
