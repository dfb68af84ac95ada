-- The latest $limit events reported in [$start, $end), newest first: no summary and no personal data (the wall
-- display shows it).
SELECT e.event_id, e.category, e.township_code, u.township_name, e.ru_code, r.short_name AS ru_short_name,
       r.ru_name, e.reported_at, e.status, e.supervision
FROM fact_event e
LEFT JOIN dim_unit u ON u.unit_code = e.grid_code
LEFT JOIN dim_reporting_unit r ON r.ru_code = e.ru_code
WHERE e.reported_at >= $start AND e.reported_at < $end
  AND ($scope_township IS NULL OR e.township_code = $scope_township)
ORDER BY e.reported_at DESC, e.event_id DESC
LIMIT $limit;
