-- 有效活跃度 of the county (or the caller's 乡镇, or one reporting unit $ru_code) for [$start, $end), one row:
-- grid-worker accounts counted, active (official), effective, both rates, the gap and the flagged accounts.
WITH a AS (
    SELECT count(*) AS accounts, count(*) FILTER (active) AS active, count(*) FILTER (effective) AS effective,
           count(*) FILTER (len(signals) > 0) AS flagged
    FROM m_activity_quality($start, $end, $period_asof, $min_active_days, $week_active_days,
                            m_aq_thresholds($aq_login_only_days, $aq_bunched_minutes, $aq_bunched_min_ops, $aq_bunched_days,
                                       $aq_night_start_hour, $aq_night_end_hour, $aq_night_burst_minutes,
                                       $aq_night_min_ops, $aq_night_days, $aq_same_fix_days, $aq_outside_min_points,
                                       $aq_outside_share))
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
      AND ($ru_code IS NULL OR ru_code = $ru_code)
)
SELECT accounts, active, effective, flagged, m_activity_rate(active, accounts) AS official_rate,
       m_activity_rate(effective, accounts) AS effective_rate,
       m_activity_rate(active, accounts) - m_activity_rate(effective, accounts) AS gap
FROM a;
