-- 三项重点工作 by month and category: the $months_back calendar months up to $end (exclusive), oldest first.
-- Reports reported in the month, their sign-offs needed and signed by the month's end plus the grace of the
-- cut-off $cutoff (NULL: none; see m_grace, relative to $end). Of one reporting unit $ru_code (NULL: all in scope).
WITH m AS (SELECT unnest(m_months($end, $months_back), recursive := true)),
kc AS (
    SELECT period, category, sum(reported) AS reported, sum(fully_signed) AS fully_signed, sum(needed) AS needed,
           sum(signed) AS signed
    FROM m_kp_counts(m_months($end, $months_back), m_grace($cutoff, $end), $scope_office)
    WHERE ($scope_township IS NULL OR township_code = $scope_township) AND ($ru_code IS NULL OR ru_code = $ru_code)
    GROUP BY ALL
),
cats AS (  -- every configured category, and 未知类别 (m_category) when reports of an unknown category are in scope
    SELECT DISTINCT category FROM cfg_kp_office
    UNION SELECT category FROM kc WHERE category = m_unknown_category() AND reported > 0
)
SELECT m.label AS month, m.ps AS period_start, m.pe AS period_end, k.category,
       m_category_order(k.category) AS category_order,
       CAST(coalesce(r.reported, 0) AS BIGINT) AS reported, CAST(coalesce(r.fully_signed, 0) AS BIGINT) AS fully_signed,
       CAST(coalesce(r.needed, 0) AS BIGINT) AS needed, CAST(coalesce(r.signed, 0) AS BIGINT) AS signed,
       m_sign_rate(r.signed, r.needed) AS sign_rate
FROM m CROSS JOIN cats k
LEFT JOIN kc r ON r.period = m.label AND r.category = k.category
ORDER BY m.ps, category_order;
