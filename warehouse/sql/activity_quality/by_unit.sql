-- 有效活跃度 beside the official 账号活跃度 per reporting unit, grid-worker accounts, for [$start, $end): the same
-- counted accounts and min_active_days (m_account_activity), the effective rate counting only days with
-- substantive work; gap = official − effective (percentage points as a fraction), gap_rank 1 = the largest gap.
-- flagged: accounts raising any signal; one count per signal (m_activity_quality).
WITH a AS (
    SELECT ru_code, count(*) AS accounts, count(*) FILTER (active) AS active, count(*) FILTER (effective) AS effective,
           count(*) FILTER (len(signals) > 0) AS flagged,
           count(*) FILTER (list_contains(signals, 'login_only')) AS login_only,
           count(*) FILTER (list_contains(signals, 'bunched')) AS bunched,
           count(*) FILTER (list_contains(signals, 'night_batch')) AS night_batch,
           count(*) FILTER (list_contains(signals, 'same_gps')) AS same_gps,
           count(*) FILTER (list_contains(signals, 'outside_grid')) AS outside_grid
    FROM m_activity_quality($start, $end, $period_asof, $min_active_days, $week_active_days,
                            m_aq_thresholds($aq_login_only_days, $aq_bunched_minutes, $aq_bunched_min_ops, $aq_bunched_days,
                                       $aq_night_start_hour, $aq_night_end_hour, $aq_night_burst_minutes,
                                       $aq_night_min_ops, $aq_night_days, $aq_same_fix_days, $aq_outside_min_points,
                                       $aq_outside_share))
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
    GROUP BY ALL
),
u AS (
    SELECT r.ru_code, r.ru_name, r.short_name, r.township_code, r.township_name, r.sort_order,
           coalesce(a.accounts, 0) AS accounts, coalesce(a.active, 0) AS active,
           coalesce(a.effective, 0) AS effective,
           m_activity_rate(a.active, a.accounts) AS official_rate,
           m_activity_rate(a.effective, a.accounts) AS effective_rate,
           coalesce(a.flagged, 0) AS flagged, coalesce(a.login_only, 0) AS login_only,
           coalesce(a.bunched, 0) AS bunched, coalesce(a.night_batch, 0) AS night_batch,
           coalesce(a.same_gps, 0) AS same_gps, coalesce(a.outside_grid, 0) AS outside_grid
    FROM dim_reporting_unit r LEFT JOIN a ON a.ru_code = r.ru_code
    WHERE ($scope_township IS NULL OR r.township_code = $scope_township)
)
SELECT *, official_rate - effective_rate AS gap,
       CASE WHEN official_rate IS NOT NULL
            THEN CAST(rank() OVER (ORDER BY official_rate - effective_rate DESC NULLS LAST) AS INTEGER) END AS gap_rank
FROM u
ORDER BY gap DESC NULLS LAST, sort_order;
