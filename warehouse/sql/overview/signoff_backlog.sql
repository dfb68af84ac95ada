-- Sign-offs still unsigned at $as_of (whenever reported), per office kind and office, by age: within
-- $sign_yellow_hours, yellow (from $sign_yellow_hours), red (from $sign_red_hours); with the oldest wait.
-- Offices with nothing pending are left out; sign-offs whose office is not named are listed as office '(未指定)'.
-- A 乡镇 user sees its reports pending at its own offices; a 部门用户 its own office.
WITH s AS (
    SELECT s.office_kind, coalesce(s.office_name, '(未指定)') AS office_name, s.township_code AS report_township,
           date_diff('minute', s.reported_at, $as_of) / 60.0 AS hours_waiting
    FROM fact_kp_signoff s
    WHERE s.reported_at <= $as_of AND (s.signed_at IS NULL OR s.signed_at > $as_of)
      AND ($scope_township IS NULL OR s.township_code = $scope_township)
      AND ($scope_office IS NULL OR s.office_name = $scope_office)
),
town AS (SELECT township_code, min(sort_order) AS town_order FROM dim_reporting_unit GROUP BY ALL)
SELECT s.office_kind, s.office_name, coalesce(o.township_code, min(s.report_township)) AS township_code,
       coalesce(o.township_name, min(u.unit_name)) AS township_name,
       count(*) AS unsigned,
       count(*) FILTER (s.hours_waiting < $sign_yellow_hours) AS within,
       count(*) FILTER (s.hours_waiting >= $sign_yellow_hours AND s.hours_waiting < $sign_red_hours) AS yellow,
       count(*) FILTER (s.hours_waiting >= $sign_red_hours) AS red,
       round(max(s.hours_waiting), 1) AS oldest_hours
FROM s
LEFT JOIN dim_office o ON o.office_name = s.office_name
LEFT JOIN dim_unit u ON u.unit_code = s.report_township
LEFT JOIN town t ON t.township_code = coalesce(o.township_code, s.report_township)
WHERE ($scope_township IS NULL OR coalesce(o.township_code, s.report_township) = $scope_township)
GROUP BY s.office_kind, s.office_name, o.township_code, o.township_name, t.town_order
ORDER BY m_office_order(s.office_kind), red DESC, yellow DESC, t.town_order, s.office_name;
