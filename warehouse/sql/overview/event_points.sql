-- Where the events reported in [$start, $end) are, for the wall's map — coarsened, so that no home can be found
-- from the screen: an event is drawn at its grid's centre, or (a grid without one) at the centre of the ~200 m cell
-- (0.002° × 0.002°, WGS84) it lies in; events are counted per point and open/closed. No id, no text, no exact
-- coordinates: the cell is a privacy rule, not a setting (it must not be made finer).
WITH e AS (
    SELECT e.township_code, e.status = '已办结' AS closed,
           coalesce(g.center_lon, floor(e.lon / 0.002) * 0.002 + 0.001) AS lon,
           coalesce(g.center_lat, floor(e.lat / 0.002) * 0.002 + 0.001) AS lat
    FROM m_event_activity([m_period('cur', $start, $end, at_ts := $period_asof)]) e
    LEFT JOIN dim_unit g ON g.unit_code = e.grid_code AND g.level = '网格'
                        AND g.center_lon IS NOT NULL AND g.center_lat IS NOT NULL
    WHERE e.reported AND e.lon IS NOT NULL AND e.lat IS NOT NULL
      AND ($scope_township IS NULL OR e.township_code = $scope_township)
)
SELECT round(lon, 6) AS lon, round(lat, 6) AS lat, CASE WHEN closed THEN '已办结' ELSE '未办结' END AS status,
       count(*) AS events, township_code
FROM e
GROUP BY ALL
ORDER BY township_code, lon, lat, status;
