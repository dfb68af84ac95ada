-- 三项重点工作 per reporting unit × category for [$start, $end), previous period beside it. Every unit in scope ×
-- every configured category (zeros included), and 未知类别 (m_category) when reports of an unknown category are in
-- scope, so that the cells add up to every report. Sign-offs count when signed before the cut-off $cutoff (NULL: the
-- period's end; the previous period gets the same grace after its end). Counts: m_kp_counts.
--   reported            reports reported in the period (报送数)
--   needed, signed      sign-offs the reports need and got (严重精神障碍患者: 派出所 and 卫生院, counted apart)
--   fully_signed        reports signed by every office they went to; fully_signed_rate = / reported
--   report_good         in the ⌈n × $report_top_fraction⌉ units with most reports among the n that reported any
--                       (all tied at the boundary included)  — 报送相对较好
--   name_each           n ≤ $report_name_each_max: the bulletin names each reporting unit with its count instead
--   sign_good           reported any and fully_signed_rate ≥ $sign_good — 签收相对较好
-- $category, $ru_code (NULL: all) choose the rows shown, after the ranking (report_good compares every unit).
-- A 部门用户 ($scope_office) sees the reports addressed to the office, and only the office's own sign-offs.
WITH kc AS (
    SELECT * FROM m_kp_counts(m_cur_prev($start, $end, $prev_start, $prev_end), m_grace($cutoff, $end), $scope_office)
    WHERE $scope_township IS NULL OR township_code = $scope_township
),
cats AS (
    SELECT category, m_category_order(category) AS category_order,
           string_agg(office_kind, '、' ORDER BY m_office_order(office_kind)) AS offices
    FROM cfg_kp_office GROUP BY ALL
    UNION ALL  -- reports whose category is not in the contract (m_category), when there are any in scope
    SELECT DISTINCT category, m_category_order(category), NULL FROM kc
    WHERE category = m_unknown_category() AND reported > 0
),
cell AS (
    SELECT r.ru_code, r.ru_name, r.short_name, r.township_code, r.sort_order, k.category, k.category_order, k.offices,
           coalesce(c.reported, 0) AS reported, coalesce(c.needed, 0) AS needed, coalesce(c.signed, 0) AS signed,
           m_sign_rate(c.signed, c.needed) AS sign_rate,
           coalesce(c.fully_signed, 0) AS fully_signed, m_fully_signed_rate(c.fully_signed, c.reported) AS fully_signed_rate,
           coalesce(pc.reported, 0) AS prev_reported, coalesce(pc.needed, 0) AS prev_needed,
           coalesce(pc.signed, 0) AS prev_signed, m_sign_rate(pc.signed, pc.needed) AS prev_sign_rate,
           m_fully_signed_rate(pc.fully_signed, pc.reported) AS prev_fully_signed_rate
    FROM dim_reporting_unit r CROSS JOIN cats k
    LEFT JOIN kc c ON c.period = 'cur' AND c.ru_code = r.ru_code AND c.category = k.category
    LEFT JOIN kc pc ON pc.period = 'prev' AND pc.ru_code = r.ru_code AND pc.category = k.category
    WHERE ($scope_township IS NULL OR r.township_code = $scope_township)
),
ranked AS (
    SELECT *,
           count(*) FILTER (reported > 0) OVER (PARTITION BY category) AS units_reporting,
           CASE WHEN reported > 0 THEN rank() OVER (PARTITION BY category ORDER BY reported DESC) END AS report_rank
    FROM cell
)
SELECT *,
       coalesce(report_rank <= ceil(units_reporting * $report_top_fraction), FALSE) AS report_good,
       units_reporting <= $report_name_each_max AS name_each,
       reported > 0 AND coalesce(fully_signed_rate >= $sign_good, FALSE) AS sign_good
FROM ranked
WHERE ($category IS NULL OR category = $category) AND ($ru_code IS NULL OR ru_code = $ru_code)
ORDER BY category_order, sort_order;
