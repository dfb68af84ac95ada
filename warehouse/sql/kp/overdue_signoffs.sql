-- Sign-offs still unsigned at $as_of that have waited at least $sign_yellow_hours (签收超时: '黄' from
-- $sign_yellow_hours, '红' from $sign_red_hours), oldest first; optionally one category ($category)
-- and one reporting unit ($ru_code).
-- person_name and id_number are personal data: the runner masks or drops them by the caller's scope.
-- A 部门用户 ($scope_office) sees only the sign-offs addressed to the office.
WITH s AS (
    SELECT s.*, date_diff('minute', s.reported_at, $as_of) / 60.0 AS hours_waiting
    FROM fact_kp_signoff s
    WHERE s.reported_at <= $as_of AND (s.signed_at IS NULL OR s.signed_at > $as_of)
      AND ($scope_township IS NULL OR s.township_code = $scope_township)
      AND ($scope_office IS NULL OR s.office_name = $scope_office)
      AND ($category IS NULL OR s.category = $category)
)
SELECT s.report_id, s.category, k.person_name, k.id_number, s.reported_at, s.office_kind, s.office_name,
       round(s.hours_waiting, 1) AS hours_waiting,
       CASE WHEN s.hours_waiting >= $sign_red_hours THEN '红' ELSE '黄' END AS level,
       s.township_code, u.township_name, s.ru_code, r.short_name AS ru_short_name, u.community_name,
       s.grid_code, u.unit_name AS grid_name
FROM s
JOIN fact_kp_report k USING (report_id)
LEFT JOIN dim_unit u ON u.unit_code = s.grid_code
LEFT JOIN dim_reporting_unit r ON r.ru_code = s.ru_code
WHERE s.hours_waiting >= $sign_yellow_hours AND ($ru_code IS NULL OR s.ru_code = $ru_code)
ORDER BY s.reported_at, s.report_id, s.office_kind
LIMIT $limit;
