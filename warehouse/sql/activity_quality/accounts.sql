-- Grid-worker accounts raising at least one 有效活跃度 signal in [$start, $end) (m_activity_quality), of one
-- reporting unit $ru_code (NULL: all in scope), with the evidence figures: most signals first. person_name is
-- personal data: the runner masks or drops it by the caller's scope.
WITH f AS (
    SELECT *
    FROM m_activity_quality($start, $end, $period_asof, $min_active_days, $week_active_days,
                            m_aq_thresholds($aq_login_only_days, $aq_bunched_minutes, $aq_bunched_min_ops, $aq_bunched_days,
                                       $aq_night_start_hour, $aq_night_end_hour, $aq_night_burst_minutes,
                                       $aq_night_min_ops, $aq_night_days, $aq_same_fix_days, $aq_outside_min_points,
                                       $aq_outside_share))
    WHERE len(signals) > 0
      AND ($scope_township IS NULL OR township_code = $scope_township)
      AND ($ru_code IS NULL OR ru_code = $ru_code)
)
SELECT f.account_id, d.person_name, f.role, f.unit_code, u.unit_name, u.community_name, f.township_code,
       u.township_name, f.ru_code, r.short_name AS ru_short_name, f.signals, CAST(len(f.signals) AS INTEGER) AS n_signals,
       f.active_days, f.effective_days, CAST(f.needed_days AS INTEGER) AS needed_days, f.active, f.effective,
       f.login_only_days, f.bunched_days, f.night_ops, f.night_days, f.same_fix_days, f.patrol_points,
       f.outside_points, f.outside_share
FROM f
JOIN dim_account d USING (account_id)
LEFT JOIN dim_unit u ON u.unit_code = f.unit_code
LEFT JOIN dim_reporting_unit r ON r.ru_code = f.ru_code
ORDER BY n_signals DESC, r.sort_order, f.unit_code, f.account_id;
