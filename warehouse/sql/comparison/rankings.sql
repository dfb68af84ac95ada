-- Rankings of the reporting units for [$start, $end) with their movement since the previous period
-- [$prev_start, $prev_end), one row per metric and unit. Ranked over the whole county (a 乡镇 user sees only its
-- own units, with their county ranks); ties share a rank; units without the figure (NULL) are not ranked.
-- Higher is better for every metric except overdue_open (fewer is better).
-- movement = prev_rank − rank: positive = moved up. Figures: m_unit_figures (warehouse/schema/50_metrics.sql).
WITH wide AS (
    SELECT period, ru_code, activity_rate, completion_rate, on_time_rate, CAST(overdue_open AS DOUBLE) AS overdue_open,
           sign_rate, collection_rate
    FROM m_unit_figures(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), $min_active_days,
                        $week_active_days, m_grace($cutoff, $end), $scope_office)
),
long AS (
    -- a previous period before the data (m_before_data) has no value and no rank: no 上期名次, no 名次变化
    SELECT * REPLACE (CASE WHEN NOT (period = 'prev'
                                     AND m_before_data($prev_end, (SELECT try_cast(value AS DATE) FROM meta
                                                                   WHERE key = 'data_first_day')))
                           THEN value END AS value)
    FROM wide UNPIVOT INCLUDE NULLS (value FOR metric IN (COLUMNS(* EXCLUDE (period, ru_code))))
),
labels AS (
    SELECT * FROM (VALUES (1, 'activity_rate', '账号活跃度', 'rate', FALSE), (2, 'completion_rate', '事件办结完成率', 'rate', FALSE),
                          (3, 'on_time_rate', '按期办结率', 'rate', FALSE), (4, 'overdue_open', '超期未办结', 'count', TRUE),
                          (5, 'sign_rate', '签收率', 'rate', FALSE), (6, 'collection_rate', '采集率', 'rate', FALSE))
        v(metric_order, metric, metric_label, kind, lower_is_better)
),
ranked AS (
    SELECT l.*, lb.metric_order, lb.metric_label, lb.kind,
           CASE WHEN l.value IS NOT NULL THEN
               rank() OVER (PARTITION BY l.period, l.metric
                            ORDER BY CASE WHEN lb.lower_is_better THEN l.value ELSE -l.value END NULLS LAST) END AS rank
    FROM long l JOIN labels lb USING (metric)
)
SELECT c.metric, c.metric_label, c.kind, c.metric_order, r.ru_code, r.short_name, r.township_code, r.sort_order,
       c.value, c.rank, p.value AS prev_value, p.rank AS prev_rank, p.rank - c.rank AS movement
FROM ranked c
JOIN ranked p ON p.period = 'prev' AND p.metric = c.metric AND p.ru_code = c.ru_code
JOIN dim_reporting_unit r ON r.ru_code = c.ru_code
WHERE c.period = 'cur' AND ($scope_township IS NULL OR r.township_code = $scope_township)
ORDER BY c.metric_order, c.rank NULLS LAST, r.sort_order;
