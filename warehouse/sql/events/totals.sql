-- 事件办结 of the units in scope, or of one reporting unit ($ru_code; NULL = every unit in scope), for
-- [$start, $end), one row, previous period beside it: the sums of events/by_unit's rows (an event of no known unit
-- is in no unit's row, so not here either) and their rates (m_completion_rate, m_on_time_rate).
WITH p AS (SELECT unnest(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), recursive := true)),
ev AS (
    SELECT e.period, count(*) FILTER (reported) AS reported, count(*) FILTER (closed) AS closed,
           count(*) FILTER (closed_on_time) AS closed_on_time, count(*) FILTER (overdue_open) AS overdue_open,
           count(*) FILTER (supervision = '黄牌') AS yellow_cards, count(*) FILTER (supervision = '红牌') AS red_cards
    FROM m_event_activity(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof)) e
    JOIN dim_reporting_unit r ON r.ru_code = e.ru_code
    WHERE ($scope_township IS NULL OR (e.township_code = $scope_township AND r.township_code = $scope_township))
      AND ($ru_code IS NULL OR e.ru_code = $ru_code)
    GROUP BY ALL
),
f AS (
    SELECT p.label AS period, coalesce(ev.reported, 0) AS reported, coalesce(ev.closed, 0) AS closed,
           m_completion_rate(ev.closed, ev.reported) AS completion_rate,
           m_on_time_rate(ev.closed_on_time, ev.closed) AS on_time_rate,
           coalesce(ev.overdue_open, 0) AS overdue_open, coalesce(ev.yellow_cards, 0) AS yellow_cards,
           coalesce(ev.red_cards, 0) AS red_cards
    FROM p LEFT JOIN ev ON ev.period = p.label
)
SELECT cur.* EXCLUDE (period), COLUMNS(prev.* EXCLUDE (period)) AS 'prev_\0'
FROM f cur, f prev
WHERE cur.period = 'cur' AND prev.period = 'prev';
