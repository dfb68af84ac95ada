-- 三项重点工作 by category for [$start, $end), previous period beside it: reports (报送数), reports signed by every
-- office, sign-offs needed / signed before the cut-off $cutoff (NULL: the period's end) and 签收率. Every
-- configured category, in the contract's order (zeros included); 未知类别 (reports whose category is not in the
-- contract, m_category: counted, needing no sign-off), last, when there are any in scope.
-- Of one reporting unit $ru_code (NULL: all in scope).
WITH kc AS (
    SELECT period, category, sum(reported) AS reports, sum(fully_signed) AS fully_signed, sum(needed) AS needed,
           sum(signed) AS signed
    FROM m_kp_counts(m_cur_prev($start, $end, $prev_start, $prev_end), m_grace($cutoff, $end), $scope_office)
    WHERE ($scope_township IS NULL OR township_code = $scope_township) AND ($ru_code IS NULL OR ru_code = $ru_code)
    GROUP BY ALL
),
cats AS (
    SELECT category, string_agg(office_kind, '、' ORDER BY m_office_order(office_kind)) AS offices
    FROM cfg_kp_office GROUP BY ALL
    UNION ALL
    SELECT DISTINCT category, NULL FROM kc WHERE category NOT IN (SELECT category FROM cfg_kp_office) AND reports > 0
)
SELECT k.category, k.offices,
       CAST(coalesce(c.reports, 0) AS BIGINT) AS reports, CAST(coalesce(c.fully_signed, 0) AS BIGINT) AS fully_signed,
       CAST(coalesce(c.needed, 0) AS BIGINT) AS signoffs_needed, CAST(coalesce(c.signed, 0) AS BIGINT) AS signoffs_signed,
       m_sign_rate(c.signed, c.needed) AS sign_rate,
       CAST(coalesce(pc.reports, 0) AS BIGINT) AS prev_reports,
       CAST(coalesce(pc.needed, 0) AS BIGINT) AS prev_signoffs_needed,
       CAST(coalesce(pc.signed, 0) AS BIGINT) AS prev_signoffs_signed, m_sign_rate(pc.signed, pc.needed) AS prev_sign_rate
FROM cats k
LEFT JOIN kc c ON c.period = 'cur' AND c.category = k.category
LEFT JOIN kc pc ON pc.period = 'prev' AND pc.category = k.category
ORDER BY m_category_order(k.category), k.category;
