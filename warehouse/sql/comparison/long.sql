-- Every figure per reporting unit per month, as a long table (ru × month × metric → value), for the $months_back
-- calendar months up to $end (exclusive; a month still running is cut at $end): the 乡镇对比 page.
-- metric (label, unit): accounts 账号数, active 活跃账号数, activity_rate 账号活跃度 (rate), events_reported
-- 上报事件, events_closed 办结事件, completion_rate 事件办结完成率 (rate), on_time_rate 按期办结率 (rate),
-- overdue_open 超期未办结, kp_reports 重点人员报送数, sign_rate 签收率 (rate, by each month's end),
-- collection_rate 采集率 (rate, at each month's end). A rate with nothing to divide is NULL ("—").
-- Figures: m_unit_figures (warehouse/schema/50_metrics.sql).
WITH m AS (SELECT unnest(m_months($end, $months_back), recursive := true)),
wide AS (
    SELECT f.ru_code, m.label AS month, m.ps AS period_start,
           CAST(f.accounts AS DOUBLE) AS accounts, CAST(f.active AS DOUBLE) AS active, f.activity_rate,
           CAST(f.events_reported AS DOUBLE) AS events_reported, CAST(f.events_closed AS DOUBLE) AS events_closed,
           f.completion_rate, f.on_time_rate, CAST(f.overdue_open AS DOUBLE) AS overdue_open,
           CAST(f.kp_reports AS DOUBLE) AS kp_reports, f.sign_rate, f.collection_rate
    FROM m_unit_figures(m_months($end, $months_back), $min_active_days, $week_active_days, INTERVAL 0 SECOND,
                        $scope_office) f
    JOIN m ON m.label = f.period
    JOIN dim_reporting_unit r ON r.ru_code = f.ru_code
    WHERE ($scope_township IS NULL OR r.township_code = $scope_township)
),
long AS (
    SELECT * FROM wide UNPIVOT INCLUDE NULLS (value FOR metric IN (COLUMNS(* EXCLUDE (ru_code, month, period_start))))
),
labels AS (
    SELECT * FROM (VALUES
        (1, 'accounts', '账号数', 'count'), (2, 'active', '活跃账号数', 'count'),
        (3, 'activity_rate', '账号活跃度', 'rate'), (4, 'events_reported', '上报事件', 'count'),
        (5, 'events_closed', '办结事件', 'count'), (6, 'completion_rate', '事件办结完成率', 'rate'),
        (7, 'on_time_rate', '按期办结率', 'rate'), (8, 'overdue_open', '超期未办结', 'count'),
        (9, 'kp_reports', '重点人员报送数', 'count'), (10, 'sign_rate', '签收率', 'rate'),
        (11, 'collection_rate', '采集率', 'rate')) v(metric_order, metric, metric_label, kind)
)
SELECT r.ru_code, r.ru_name, r.short_name, r.township_code, r.sort_order, l.month, l.period_start,
       l.metric, lb.metric_label, lb.kind, lb.metric_order, l.value
FROM long l
JOIN dim_reporting_unit r USING (ru_code)
JOIN labels lb USING (metric)
ORDER BY lb.metric_order, r.sort_order, l.period_start;
