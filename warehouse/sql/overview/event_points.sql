-- Where the events reported in [$start, $end) happened (WGS84), for the map: no id, no text.
SELECT e.lon, e.lat, e.category, e.status, e.supervision, e.overdue_open, e.township_code
FROM m_event_activity([m_period('cur', $start, $end)]) e
WHERE e.reported AND e.lon IS NOT NULL AND e.lat IS NOT NULL
  AND ($scope_township IS NULL OR e.township_code = $scope_township);
