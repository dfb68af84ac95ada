-- Every figure per reporting unit per month, as a long table (ru × month × metric → value), for the $months_back
-- calendar months up to $end (exclusive; a month still running is cut at $end): the 乡镇对比 page.
-- metric (label, unit): accounts 账号数, active 活跃账号数, activity_rate 账号活跃度 (rate), events_reported
-- 上报事件, events_closed 办结事件, completion_rate 事件办结完成率 (rate), on_time_rate 按期办结率 (rate),
-- overdue_open 超期未办结, kp_reports 重点人员报送数, sign_rate 签收率 (rate, by each month's end),
-- collection_rate 采集率 (rate, at each month's end). A rate with nothing to divide is NULL ("—").
WITH m AS (SELECT unnest(m_months($end, $months_back), recursive := true)),
a AS (
    SELECT period, ru_code, count(*) AS accounts, count(*) FILTER (active) AS active
    FROM m_account_activity(m_months($end, $months_back), $min_active_days, $week_active_days)
    WHERE is_grid_worker AND ($scope_township IS NULL OR township_code = $scope_township)
    GROUP BY ALL
),
e AS (
    SELECT period, ru_code, count(*) FILTER (reported) AS events_reported, count(*) FILTER (closed) AS events_closed,
           count(*) FILTER (closed_on_time) AS closed_on_time, count(*) FILTER (overdue_open) AS overdue_open
    FROM m_event_activity(m_months($end, $months_back))
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
    GROUP BY ALL
),
k AS (
    SELECT period, ru_code, count(*) AS kp_reports
    FROM m_kp_reports(m_months($end, $months_back), INTERVAL 0 SECOND)
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
      AND ($scope_office IS NULL OR police_station = $scope_office OR justice_office = $scope_office
           OR health_center = $scope_office)
    GROUP BY ALL
),
s AS (
    SELECT period, ru_code, count(*) AS needed, count(*) FILTER (signed) AS signed
    FROM m_kp_signoffs(m_months($end, $months_back), INTERVAL 0 SECOND)
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
      AND ($scope_office IS NULL OR office_name = $scope_office)
    GROUP BY ALL
),
c AS (
    SELECT period, ru_code, sum(households) AS households, sum(collected) FILTER (households > 0) AS collected
    FROM m_collection(m_months($end, $months_back))
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
    GROUP BY ALL
),
wide AS (
    SELECT r.ru_code, m.label AS month, m.ps AS period_start,
           CAST(coalesce(a.accounts, 0) AS DOUBLE) AS accounts, CAST(coalesce(a.active, 0) AS DOUBLE) AS active,
           m_activity_rate(a.active, a.accounts) AS activity_rate,
           CAST(coalesce(e.events_reported, 0) AS DOUBLE) AS events_reported,
           CAST(coalesce(e.events_closed, 0) AS DOUBLE) AS events_closed,
           e.events_closed / nullif(e.events_reported, 0) AS completion_rate,
           e.closed_on_time / nullif(e.events_closed, 0) AS on_time_rate,
           CAST(coalesce(e.overdue_open, 0) AS DOUBLE) AS overdue_open,
           CAST(coalesce(k.kp_reports, 0) AS DOUBLE) AS kp_reports,
           s.signed / nullif(s.needed, 0) AS sign_rate,
           c.collected / nullif(c.households, 0) AS collection_rate
    FROM dim_reporting_unit r CROSS JOIN m
    LEFT JOIN a ON a.period = m.label AND a.ru_code = r.ru_code
    LEFT JOIN e ON e.period = m.label AND e.ru_code = r.ru_code
    LEFT JOIN k ON k.period = m.label AND k.ru_code = r.ru_code
    LEFT JOIN s ON s.period = m.label AND s.ru_code = r.ru_code
    LEFT JOIN c ON c.period = m.label AND c.ru_code = r.ru_code
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
