-- 巡查覆盖 per grid for [$start, $end) (m_patrol_coverage): distinct days patrolled by the grid's own accounts, their
-- 巡查 points and the share inside the grid's polygon, with the boundary (GeoJSON, WGS84) for the map layer; of
-- one reporting unit $ru_code (NULL: all in scope). days_in_period: the days of the period measured so far;
-- day_share: patrol_days / days_in_period (the map's colour).
SELECT c.*, CAST(m_days_measured($start, $end, at_ts := $period_asof) AS INTEGER) AS days_in_period,
       c.patrol_days / nullif(m_days_measured($start, $end, at_ts := $period_asof), 0) AS day_share
FROM m_patrol_coverage($start, $end) c
WHERE ($scope_township IS NULL OR c.township_code = $scope_township)
  AND ($ru_code IS NULL OR c.ru_code = $ru_code)
ORDER BY c.grid_code;
