-- 三项重点工作 for the wall, [$start, $end): per configured category (the contract's five, in its order, zeros
-- included) the reports (报送数), the persons they concern (distinct 身份证号; a report without one counts as one
-- person) and the reports signed by every office they went to, by the period's end. Counts only: no id number
-- leaves the query. Reports whose category is not one of the contract's are one row, category NULL (a data
-- quality item, shown apart, never as a sixth category).
WITH r AS (
    SELECT r.report_id, r.category, r.reported_at, r.township_code,
           coalesce(upper(trim(r.id_number)), 'report:' || r.report_id) AS person
    FROM fact_kp_report r
    WHERE r.reported_at >= $start AND r.reported_at < $end
      AND ($scope_township IS NULL OR r.township_code = $scope_township)
      AND ($scope_office IS NULL OR r.police_station = $scope_office OR r.justice_office = $scope_office
           OR r.health_center = $scope_office)
),
k AS (
    SELECT report_id, fully_signed
    FROM m_kp_reports([m_period('cur', $start, $end)], m_grace(NULL, $end))
),
cats AS (SELECT DISTINCT category FROM cfg_kp_office),
t AS (
    SELECT CASE WHEN r.category IN (SELECT category FROM cats) THEN r.category END AS category,
           count(*) AS reports, count(DISTINCT r.person) AS persons, count(*) FILTER (k.fully_signed) AS fully_signed
    FROM r LEFT JOIN k USING (report_id)
    GROUP BY ALL
)
SELECT c.category, coalesce(t.reports, 0) AS reports, coalesce(t.persons, 0) AS persons,
       coalesce(t.fully_signed, 0) AS fully_signed
FROM cats c LEFT JOIN t ON t.category = c.category
UNION ALL
SELECT NULL, reports, persons, fully_signed FROM t WHERE category IS NULL
ORDER BY m_category_order(category), category NULLS LAST;
