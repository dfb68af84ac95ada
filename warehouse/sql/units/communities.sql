-- The 社区/村 of one reporting unit (for drill-down), in code order.
SELECT DISTINCT u.community_code, u.community_name, u.community_level
FROM dim_unit u
WHERE u.level IN ('社区', '村') AND u.ru_code = $ru_code
  AND ($scope_township IS NULL OR u.township_code = $scope_township)
ORDER BY u.community_code;
