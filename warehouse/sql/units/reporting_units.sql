-- The reporting units (报告单位) the caller may see, in the county's order.
SELECT ru_code, ru_name, short_name, township_code, township_name, part, sort_order
FROM dim_reporting_unit
WHERE ($scope_township IS NULL OR township_code = $scope_township)
ORDER BY sort_order;
