-- The bulletin's event-completion groups for [$start, $end): one row per group, its units in the county's order
-- (short names and codes). Groups as events/by_unit: '<$event_high>以上' (rate ≥ $event_high, default '100%以上'),
-- '<$event_low>以下' (rate < $event_low, default '50%以下'), '其他', '—' (no events reported: in neither list).
WITH ev AS (
    SELECT ru_code, count(*) FILTER (reported) AS reported, count(*) FILTER (closed) AS closed
    FROM m_event_activity([m_period('cur', $start, $end, at_ts := $period_asof)])
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
    GROUP BY ALL
),
unit AS (
    SELECT r.ru_code, r.short_name, r.sort_order, m_completion_rate(e.closed, e.reported) AS completion_rate
    FROM dim_reporting_unit r LEFT JOIN ev e USING (ru_code)
    WHERE ($scope_township IS NULL OR r.township_code = $scope_township)
),
grouped AS (
    SELECT *, CASE WHEN completion_rate IS NULL THEN 4 WHEN completion_rate >= $event_high THEN 1
                   WHEN completion_rate < $event_low THEN 2 ELSE 3 END AS grp_order
    FROM unit
),
g AS (
    SELECT * FROM (VALUES (1, m_pct_label($event_high) || '以上'), (2, m_pct_label($event_low) || '以下'),
                          (3, '其他'), (4, '—')) v(grp_order, grp)
)
SELECT g.grp_order, g.grp, count(u.ru_code) AS units,
       coalesce(list(u.short_name ORDER BY u.sort_order) FILTER (u.ru_code IS NOT NULL), []) AS short_names,
       coalesce(list(u.ru_code ORDER BY u.sort_order) FILTER (u.ru_code IS NOT NULL), []) AS ru_codes
FROM g LEFT JOIN grouped u USING (grp_order)
GROUP BY ALL
ORDER BY g.grp_order;
