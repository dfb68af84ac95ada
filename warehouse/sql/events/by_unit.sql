-- 事件办结 per reporting unit for [$start, $end), previous period beside it (rules: m_event_activity):
--   reported         events reported in the period
--   closed           events closed in the period, whenever reported
--   completion_rate  closed / reported (事件办结完成率; can exceed 100%; no events reported: NULL, "—")
--   on_time_rate     closed on or before the deadline / closed (按期办结率)
--   overdue_open     open at the period's end with the deadline passed (超期未办结)
--   yellow_cards, red_cards  events reported, closed or open in the period under 黄牌 / 红牌 supervision
-- and the bulletin group: '100%以上' (rate ≥ $event_high; the label follows the threshold), '50%以下'
-- (rate < $event_low), '其他', '—'.
WITH ev AS (
    SELECT period, ru_code,
           count(*) FILTER (reported) AS reported, count(*) FILTER (closed) AS closed,
           count(*) FILTER (closed_on_time) AS closed_on_time,
           count(*) FILTER (open_at_end) AS open_at_end, count(*) FILTER (overdue_open) AS overdue_open,
           count(*) FILTER (supervision = '黄牌') AS yellow_cards, count(*) FILTER (supervision = '红牌') AS red_cards,
           avg(hours_to_close) FILTER (closed) AS avg_hours_to_close
    FROM m_event_activity(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof))
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
    GROUP BY ALL
),
unit AS (
    SELECT r.ru_code, r.ru_name, r.short_name, r.township_code, r.township_name, r.sort_order,
           coalesce(c.reported, 0) AS reported, coalesce(c.closed, 0) AS closed,
           m_completion_rate(c.closed, c.reported) AS completion_rate,
           coalesce(c.closed_on_time, 0) AS closed_on_time, m_on_time_rate(c.closed_on_time, c.closed) AS on_time_rate,
           coalesce(c.open_at_end, 0) AS open_at_end, coalesce(c.overdue_open, 0) AS overdue_open,
           coalesce(c.yellow_cards, 0) AS yellow_cards, coalesce(c.red_cards, 0) AS red_cards, c.avg_hours_to_close,
           coalesce(p.reported, 0) AS prev_reported, coalesce(p.closed, 0) AS prev_closed,
           m_completion_rate(p.closed, p.reported) AS prev_completion_rate,
           m_on_time_rate(p.closed_on_time, p.closed) AS prev_on_time_rate,
           coalesce(p.overdue_open, 0) AS prev_overdue_open
    FROM dim_reporting_unit r
    LEFT JOIN ev c ON c.ru_code = r.ru_code AND c.period = 'cur'
    LEFT JOIN ev p ON p.ru_code = r.ru_code AND p.period = 'prev'
    WHERE ($scope_township IS NULL OR r.township_code = $scope_township)
)
SELECT *, completion_rate - prev_completion_rate AS change,
       CASE WHEN completion_rate IS NULL THEN '—' WHEN completion_rate >= $event_high THEN m_pct_label($event_high) || '以上'
            WHEN completion_rate < $event_low THEN m_pct_label($event_low) || '以下' ELSE '其他' END AS grp
FROM unit
ORDER BY sort_order;
