-- 签收 per department office (派出所, 司法所, 卫生院) for the reports reported in [$start, $end): sign-offs
-- received, signed before the cut-off $cutoff (NULL: the period's end), unsigned, rate, mean hours to sign; the
-- ones still unsigned at $as_of by age (签收超时: yellow after $sign_yellow_hours, red after $sign_red_hours);
-- previous period beside it (same grace after its end). Offices with nothing received: received 0, rate NULL.
-- total_*: the totals of the offices shown (the bulletin's 合计 row). $ru_code (NULL: all): the offices of its 乡镇. grp: '有签收' (signed any), '为0' (received some, signed none), '无报送' (received none).
WITH sig AS (
    SELECT period, office_name, count(*) AS received, count(*) FILTER (signed) AS signed,
           avg(date_diff('minute', reported_at, signed_at) / 60.0) FILTER (signed) AS avg_hours_to_sign,
           count(*) FILTER (period = 'cur' AND (signed_at IS NULL OR signed_at > $as_of)
                            AND date_diff('minute', reported_at, $as_of) >= $sign_yellow_hours * 60
                            AND date_diff('minute', reported_at, $as_of) < $sign_red_hours * 60) AS unsigned_yellow,
           count(*) FILTER (period = 'cur' AND (signed_at IS NULL OR signed_at > $as_of)
                            AND date_diff('minute', reported_at, $as_of) >= $sign_red_hours * 60) AS unsigned_red
    FROM m_kp_signoffs(m_cur_prev($start, $end, $prev_start, $prev_end), m_grace($cutoff, $end))
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
    GROUP BY ALL
),
town AS (SELECT township_code, min(sort_order) AS town_order FROM dim_reporting_unit GROUP BY ALL),
office AS (
    SELECT o.office_name, o.office_kind, o.township_code, o.township_name, o.has_account,
           CAST(row_number() OVER (ORDER BY t.town_order NULLS LAST, o.township_code,
                                   m_office_order(o.office_kind), o.office_name)
                AS INTEGER) AS sort_order,
           coalesce(c.received, 0) AS received, coalesce(c.signed, 0) AS signed,
           coalesce(c.received, 0) - coalesce(c.signed, 0) AS unsigned,
           m_sign_rate(c.signed, c.received) AS sign_rate, c.avg_hours_to_sign,
           coalesce(c.unsigned_yellow, 0) AS unsigned_yellow, coalesce(c.unsigned_red, 0) AS unsigned_red,
           coalesce(p.received, 0) AS prev_received, coalesce(p.signed, 0) AS prev_signed,
           m_sign_rate(p.signed, p.received) AS prev_sign_rate
    FROM dim_office o
    LEFT JOIN town t ON t.township_code = o.township_code
    LEFT JOIN sig c ON c.period = 'cur' AND c.office_name = o.office_name
    LEFT JOIN sig p ON p.period = 'prev' AND p.office_name = o.office_name
    WHERE ($scope_township IS NULL OR o.township_code = $scope_township)
      AND ($scope_office IS NULL OR o.office_name = $scope_office)
      AND ($ru_code IS NULL OR o.township_code = (SELECT township_code FROM dim_reporting_unit WHERE ru_code = $ru_code))
)
SELECT *, CASE WHEN signed > 0 THEN '有签收' WHEN received > 0 THEN '为0' ELSE '无报送' END AS grp,
       CAST(sum(received) OVER () AS BIGINT) AS total_received, CAST(sum(signed) OVER () AS BIGINT) AS total_signed,
       m_sign_rate(sum(signed) OVER (), sum(received) OVER ()) AS total_sign_rate,
       CAST(sum(unsigned_red) OVER () AS BIGINT) AS total_unsigned_red
FROM office
ORDER BY sort_order;
