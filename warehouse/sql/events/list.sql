-- Events of one reporting unit ($ru_code) or grid ($grid_code) — NULL = all in scope — that matter to
-- [$start, $end): reported in it, closed in it, or open at its end; newest first, at most $limit (NULL: all).
-- category as delivered (a record list; breakdowns count an unknown one as 未知类别, see m_category).
-- overdue_days (超期天数): how long past its deadline an overdue event is at the period's end, or now
-- ($period_asof) in a period still running; NULL when it is not overdue.
-- summary is free text that may hold personal data: the runner masks or drops it by the caller's scope.
SELECT e.event_id, e.reported_at, f.category, f.source, e.status, f.handling_level, e.deadline, e.closed_at,
       e.supervision, f.satisfaction, e.reported, e.closed, e.closed_on_time, e.open_at_end, e.overdue_open,
       CASE WHEN e.overdue_open
            THEN round(date_diff('second', e.deadline, m_asof($end, $period_asof)) / 86400.0, 1) END AS overdue_days,
       e.hours_to_close, e.township_code, u.township_name, e.ru_code, r.short_name AS ru_short_name,
       u.community_name, e.grid_code, u.unit_name AS grid_name, f.summary
FROM m_event_activity([m_period('cur', $start, $end, at_ts := $period_asof)]) e
JOIN fact_event f USING (event_id)
LEFT JOIN dim_unit u ON u.unit_code = e.grid_code
LEFT JOIN dim_reporting_unit r ON r.ru_code = e.ru_code
WHERE ($scope_township IS NULL OR e.township_code = $scope_township)
  AND ($ru_code IS NULL OR e.ru_code = $ru_code)
  AND ($grid_code IS NULL OR e.grid_code = $grid_code)
ORDER BY e.reported_at DESC, e.event_id
LIMIT $limit;
