-- The counties of the warehouse in their order (dim_county: a city deployment's, or a county deployment's one),
-- with how many 乡镇 and reporting units each has: the navigation 市 → 县. A 乡镇 user sees its own county only.
-- On the counties-as-units connection (Scope(by_county=True)) the same rows (one reporting unit per county).
SELECT k.county_code, k.county_name, k.sort_order,
       count(DISTINCT r.township_code) AS townships, count(r.ru_code) AS reporting_units
FROM dim_county k
LEFT JOIN dim_reporting_unit r ON r.county_code = k.county_code
WHERE $scope_township IS NULL OR k.county_code = left($scope_township, 6)
GROUP BY ALL
ORDER BY k.sort_order;
