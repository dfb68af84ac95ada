-- The path of the events reported in [$start, $end), by the period's end: 当期上报 (all of them) → 其中已受理 (a
-- 受理 step in the event's flow before the end, or closed by then) → 其中已办结 (closed before the end); the
-- previous period's events beside it, measured at its own end. The stages say "of this period's reports", so
-- that 其中已办结 (≤ 100% of them) is not mistaken for 事件办结完成率 (overview/headline completion_rate: closures
-- in the period of events reported in any period, / reports of the period; it can exceed 100%).
WITH ev AS (
    SELECT e.period, e.period_end, e.event_id, e.closed_at, e.accepted_at
    FROM m_event_activity(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof)) e
    WHERE e.reported AND ($scope_township IS NULL OR e.township_code = $scope_township)
),
stages AS (
    SELECT ev.period,
           count(*) AS reported,
           count(*) FILTER (ev.accepted_at < ev.period_end OR ev.closed_at < ev.period_end) AS accepted,
           count(*) FILTER (ev.closed_at < ev.period_end) AS closed
    FROM ev
    GROUP BY ALL
),
p AS (SELECT unnest(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), recursive := true)),
long AS (
    SELECT p.label AS period, v.stage_order, v.stage,
           coalesce(CASE v.stage_order WHEN 1 THEN s.reported WHEN 2 THEN s.accepted ELSE s.closed END, 0) AS events,
           coalesce(s.reported, 0) AS reported
    FROM p CROSS JOIN (VALUES (1, '当期上报'), (2, '其中已受理'), (3, '其中已办结')) v(stage_order, stage)
    LEFT JOIN stages s ON s.period = p.label
)
SELECT c.stage_order, c.stage, c.events, c.events / nullif(c.reported, 0) AS share_of_reported,
       p.events AS prev_events, p.events / nullif(p.reported, 0) AS prev_share_of_reported
FROM long c JOIN long p ON p.stage_order = c.stage_order AND p.period = 'prev'
WHERE c.period = 'cur'
ORDER BY c.stage_order;
