-- The headline figures of the county (or the caller's 乡镇) for [$start, $end), one row, with the previous period
-- [$prev_start, $prev_end) beside every figure as prev_<name> (环比). Definitions: warehouse/schema/50_metrics.sql.
--   accounts, active, activity_rate                 grid-worker accounts (账号活跃度)
--   dept_accounts, dept_active, dept_activity_rate  派出所/司法所/卫生院 accounts
--   events_reported, events_closed, completion_rate (事件办结完成率), closed_on_time, on_time_rate (按期办结率),
--   open_at_end, overdue_open (超期未办结), yellow_cards, red_cards (督办 黄牌/红牌 on events that matter to the period)
--   kp_reports (报送数), kp_fully_signed, fully_signed_rate (全部签收占比), signoffs_needed, signoffs_signed, sign_rate (签收率, by $cutoff)
--   grids, households, collected, collection_rate (采集率 at the period's end)
WITH p AS (SELECT unnest(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), recursive := true)),
a AS (
    SELECT period,
           count(*) FILTER (is_grid_worker) AS accounts, count(*) FILTER (is_grid_worker AND active) AS active,
           count(*) FILTER (dept_kind IS NOT NULL) AS dept_accounts,
           count(*) FILTER (dept_kind IS NOT NULL AND active) AS dept_active
    FROM m_account_activity(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), $min_active_days, $week_active_days)
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
    GROUP BY ALL
),
e AS (
    SELECT period, count(*) FILTER (reported) AS events_reported, count(*) FILTER (closed) AS events_closed,
           count(*) FILTER (closed_on_time) AS closed_on_time, count(*) FILTER (open_at_end) AS open_at_end,
           count(*) FILTER (overdue_open) AS overdue_open,
           count(*) FILTER (supervision = '黄牌') AS yellow_cards, count(*) FILTER (supervision = '红牌') AS red_cards
    FROM m_event_activity(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof))
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
    GROUP BY ALL
),
k AS (
    SELECT period, CAST(sum(reported) AS BIGINT) AS kp_reports, CAST(sum(fully_signed) AS BIGINT) AS kp_fully_signed,
           CAST(sum(needed) AS BIGINT) AS signoffs_needed, CAST(sum(signed) AS BIGINT) AS signoffs_signed
    FROM m_kp_counts(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), m_grace($cutoff, $end),
                     $scope_office)
    WHERE $scope_township IS NULL OR township_code = $scope_township
    GROUP BY ALL
),
c AS (
    SELECT period, count(*) AS grids, sum(households) AS households,
           sum(collected) FILTER (households > 0) AS collected
    FROM m_collection(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof))
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
    GROUP BY ALL
),
f AS (
    SELECT p.label AS period,
           coalesce(a.accounts, 0) AS accounts, coalesce(a.active, 0) AS active,
           m_activity_rate(a.active, a.accounts) AS activity_rate,
           coalesce(a.dept_accounts, 0) AS dept_accounts, coalesce(a.dept_active, 0) AS dept_active,
           m_activity_rate(a.dept_active, a.dept_accounts) AS dept_activity_rate,
           coalesce(e.events_reported, 0) AS events_reported, coalesce(e.events_closed, 0) AS events_closed,
           m_completion_rate(e.events_closed, e.events_reported) AS completion_rate,
           coalesce(e.closed_on_time, 0) AS closed_on_time, m_on_time_rate(e.closed_on_time, e.events_closed) AS on_time_rate,
           coalesce(e.open_at_end, 0) AS open_at_end, coalesce(e.overdue_open, 0) AS overdue_open,
           coalesce(e.yellow_cards, 0) AS yellow_cards, coalesce(e.red_cards, 0) AS red_cards,
           coalesce(k.kp_reports, 0) AS kp_reports, coalesce(k.kp_fully_signed, 0) AS kp_fully_signed,
           m_fully_signed_rate(k.kp_fully_signed, k.kp_reports) AS fully_signed_rate,
           coalesce(k.signoffs_needed, 0) AS signoffs_needed, coalesce(k.signoffs_signed, 0) AS signoffs_signed,
           m_sign_rate(k.signoffs_signed, k.signoffs_needed) AS sign_rate,
           coalesce(c.grids, 0) AS grids, coalesce(c.households, 0) AS households,
           coalesce(c.collected, 0) AS collected, m_collection_rate(c.collected, c.households) AS collection_rate
    FROM p
    LEFT JOIN a ON a.period = p.label LEFT JOIN e ON e.period = p.label LEFT JOIN k ON k.period = p.label
    LEFT JOIN c ON c.period = p.label
)
SELECT cur.* EXCLUDE (period), COLUMNS(prev.* EXCLUDE (period)) AS 'prev_\0'
FROM f cur, f prev
WHERE cur.period = 'cur' AND prev.period = 'prev';
