-- The map's areas for [$start, $end): one row per 乡镇 (level '乡镇') and per grid (level '网格'), with the boundary
-- (GeoJSON geometry text, WGS84), the centre, and the figures used for colouring: grid-worker activity, event
-- completion and overdue open events. A split 乡镇 is one area (both its reporting units together).
WITH a AS (
    SELECT township_code, unit_code, unit_level, active
    FROM m_account_activity([m_period('cur', $start, $end, at_ts := $period_asof)], $min_active_days, $week_active_days)
    WHERE is_grid_worker AND ($scope_township IS NULL OR township_code = $scope_township)
),
e AS (
    SELECT township_code, grid_code, reported, closed, overdue_open
    FROM m_event_activity([m_period('cur', $start, $end, at_ts := $period_asof)])
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
),
by_area AS (
    SELECT '乡镇' AS level, township_code AS code, count(*) AS accounts, count(*) FILTER (active) AS active,
           NULL::BIGINT AS reported, NULL::BIGINT AS closed, NULL::BIGINT AS overdue_open
    FROM a GROUP BY ALL
    UNION ALL
    SELECT '网格', unit_code, count(*), count(*) FILTER (active), NULL, NULL, NULL FROM a WHERE unit_level = '网格' GROUP BY ALL
    UNION ALL
    SELECT '乡镇', township_code, NULL, NULL, count(*) FILTER (reported), count(*) FILTER (closed),
           count(*) FILTER (overdue_open) FROM e GROUP BY ALL
    UNION ALL
    SELECT '网格', grid_code, NULL, NULL, count(*) FILTER (reported), count(*) FILTER (closed),
           count(*) FILTER (overdue_open) FROM e GROUP BY ALL
),
fig AS (
    SELECT level, code, sum(accounts) AS accounts, sum(active) AS active, sum(reported) AS reported,
           sum(closed) AS closed, sum(overdue_open) AS overdue_open
    FROM by_area GROUP BY ALL
)
SELECT u.level, u.unit_code AS code, u.unit_name AS name, u.unit_kind AS kind, u.township_code, u.township_name,
       u.community_code, u.community_name, u.ru_code, u.households, u.center_lon, u.center_lat, u.boundary,
       CAST(coalesce(f.accounts, 0) AS BIGINT) AS accounts, CAST(coalesce(f.active, 0) AS BIGINT) AS active,
       m_activity_rate(f.active, f.accounts) AS activity_rate,
       CAST(coalesce(f.reported, 0) AS BIGINT) AS events_reported, CAST(coalesce(f.closed, 0) AS BIGINT) AS events_closed,
       m_completion_rate(f.closed, f.reported) AS completion_rate, CAST(coalesce(f.overdue_open, 0) AS BIGINT) AS overdue_open
FROM dim_unit u
LEFT JOIN fig f ON f.level = u.level AND f.code = u.unit_code
WHERE u.level IN ('乡镇', '网格')
  AND ($scope_township IS NULL OR u.township_code = $scope_township)
ORDER BY u.level = '网格', u.unit_code;
