-- 三项重点工作 per reporting unit over every category for [$start, $end), previous period beside it — the
-- 三项重点工作 page's "全部类别" view, for every role that has the page (a 部门用户 included: no county ranking),
-- and the bulletin's 报送情况统计表. The counts of m_kp_counts summed over the categories; total_* are the totals of
-- the rows shown (the table's 合计 row). $ru_code (NULL: every unit in scope). A 部门用户 ($scope_office) sees the
-- reports addressed to the office, and only the office's own sign-offs.
WITH kc AS (
    SELECT period, ru_code, sum(reported) AS reported, sum(fully_signed) AS fully_signed, sum(needed) AS needed,
           sum(signed) AS signed
    FROM m_kp_counts(m_cur_prev($start, $end, $prev_start, $prev_end), m_grace($cutoff, $end), $scope_office)
    WHERE $scope_township IS NULL OR township_code = $scope_township
    GROUP BY ALL
),
u AS (
    SELECT r.ru_code, r.ru_name, r.short_name, r.township_code, r.sort_order,
           CAST(coalesce(c.reported, 0) AS BIGINT) AS reported, CAST(coalesce(c.needed, 0) AS BIGINT) AS needed,
           CAST(coalesce(c.signed, 0) AS BIGINT) AS signed, CAST(coalesce(c.fully_signed, 0) AS BIGINT) AS fully_signed,
           CAST(coalesce(pc.reported, 0) AS BIGINT) AS prev_reported, pc.signed AS prev_signed, pc.needed AS prev_needed
    FROM dim_reporting_unit r
    LEFT JOIN kc c ON c.period = 'cur' AND c.ru_code = r.ru_code
    LEFT JOIN kc pc ON pc.period = 'prev' AND pc.ru_code = r.ru_code
    WHERE ($scope_township IS NULL OR r.township_code = $scope_township)
      AND ($ru_code IS NULL OR r.ru_code = $ru_code)
)
SELECT ru_code, ru_name, short_name, township_code, sort_order, reported, needed, signed,
       m_sign_rate(signed, needed) AS sign_rate,
       fully_signed, m_fully_signed_rate(fully_signed, reported) AS fully_signed_rate,
       prev_reported, m_sign_rate(prev_signed, prev_needed) AS prev_sign_rate,
       CAST(sum(reported) OVER () AS BIGINT) AS total_reported,
       CAST(sum(fully_signed) OVER () AS BIGINT) AS total_fully_signed,
       m_fully_signed_rate(sum(fully_signed) OVER (), sum(reported) OVER ()) AS total_fully_signed_rate
FROM u
ORDER BY sort_order;
