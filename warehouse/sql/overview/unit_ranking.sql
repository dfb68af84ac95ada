-- Every headline figure per reporting unit for [$start, $end), previous period beside each as prev_<name>, for
-- ranking bars and comparison; and the 红黑榜 (red and black list) of both periods.
--   score  the mean of the unit's defined figures among: activity_rate, min(completion_rate, 100%), and
--          fully_signed_rate (its key-person reports signed by every office they went to, by $cutoff).
--          NULL when none is defined.
--   rank   by score, best first, over the whole county (a 乡镇 user sees only its own units, with their county
--          ranks; a 部门用户's key-person figures count only the reports addressed to its office).
--   red    among the $red_black_size best scores (ties at the boundary included) and above the lowest score;
--   black  among the $red_black_size worst scores (ties included), below the highest score, and not red.
--   black_repeat  black in this period and in the previous one (flagged on the list).
WITH p AS (SELECT unnest(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), recursive := true)),
a AS (
    SELECT period, ru_code, count(*) AS accounts, count(*) FILTER (active) AS active
    FROM m_account_activity(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), $min_active_days, $week_active_days)
    WHERE is_grid_worker GROUP BY ALL
),
e AS (
    SELECT period, ru_code, count(*) FILTER (reported) AS events_reported, count(*) FILTER (closed) AS events_closed,
           count(*) FILTER (closed_on_time) AS closed_on_time, count(*) FILTER (overdue_open) AS overdue_open,
           count(*) FILTER (supervision = '黄牌') AS yellow_cards, count(*) FILTER (supervision = '红牌') AS red_cards
    FROM m_event_activity(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof))
    GROUP BY ALL
),
k AS (
    SELECT period, ru_code, count(*) AS kp_reports, count(*) FILTER (fully_signed) AS kp_fully_signed
    FROM m_kp_reports(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), m_grace($cutoff, $end))
    WHERE ($scope_office IS NULL OR police_station = $scope_office OR justice_office = $scope_office
           OR health_center = $scope_office)
    GROUP BY ALL
),
s AS (
    SELECT period, ru_code, count(*) AS signoffs_needed, count(*) FILTER (signed) AS signoffs_signed
    FROM m_kp_signoffs(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), m_grace($cutoff, $end))
    WHERE ($scope_office IS NULL OR office_name = $scope_office)
    GROUP BY ALL
),
c AS (
    SELECT period, ru_code, sum(households) AS households, sum(collected) FILTER (households > 0) AS collected
    FROM m_collection(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof))
    GROUP BY ALL
),
f AS (
    SELECT p.label AS period, r.ru_code,
           coalesce(a.accounts, 0) AS accounts, coalesce(a.active, 0) AS active,
           m_activity_rate(a.active, a.accounts) AS activity_rate,
           coalesce(e.events_reported, 0) AS events_reported, coalesce(e.events_closed, 0) AS events_closed,
           e.events_closed / nullif(e.events_reported, 0) AS completion_rate,
           e.closed_on_time / nullif(e.events_closed, 0) AS on_time_rate,
           coalesce(e.overdue_open, 0) AS overdue_open, coalesce(e.yellow_cards, 0) AS yellow_cards,
           coalesce(e.red_cards, 0) AS red_cards,
           coalesce(k.kp_reports, 0) AS kp_reports, coalesce(k.kp_fully_signed, 0) AS kp_fully_signed,
           k.kp_fully_signed / nullif(k.kp_reports, 0) AS fully_signed_rate,
           coalesce(s.signoffs_needed, 0) AS signoffs_needed, coalesce(s.signoffs_signed, 0) AS signoffs_signed,
           s.signoffs_signed / nullif(s.signoffs_needed, 0) AS sign_rate,
           coalesce(c.households, 0) AS households, coalesce(c.collected, 0) AS collected,
           c.collected / nullif(c.households, 0) AS collection_rate
    FROM dim_reporting_unit r CROSS JOIN p
    LEFT JOIN a ON a.period = p.label AND a.ru_code = r.ru_code
    LEFT JOIN e ON e.period = p.label AND e.ru_code = r.ru_code
    LEFT JOIN k ON k.period = p.label AND k.ru_code = r.ru_code
    LEFT JOIN s ON s.period = p.label AND s.ru_code = r.ru_code
    LEFT JOIN c ON c.period = p.label AND c.ru_code = r.ru_code
),
scored AS (
    SELECT *, list_avg([activity_rate, CASE WHEN completion_rate > 1 THEN 1.0 ELSE completion_rate END, fully_signed_rate]) AS score FROM f
),
ranked AS (
    SELECT *,
           CASE WHEN score IS NOT NULL THEN rank() OVER (PARTITION BY period ORDER BY score DESC) END AS rank,
           CASE WHEN score IS NOT NULL THEN rank() OVER (PARTITION BY period ORDER BY score ASC) END AS rank_worst,
           min(score) OVER (PARTITION BY period) AS lowest, max(score) OVER (PARTITION BY period) AS highest
    FROM scored
),
listed AS (
    SELECT * EXCLUDE (rank_worst, lowest, highest),
           coalesce(rank <= $red_black_size AND score > lowest, FALSE) AS red,
           coalesce(rank_worst <= $red_black_size AND score < highest
                    AND NOT (rank <= $red_black_size AND score > lowest), FALSE) AS black
    FROM ranked
)
SELECT r.ru_code, r.ru_name, r.short_name, r.township_code, r.township_name, r.sort_order,
       cur.* EXCLUDE (period, ru_code), COLUMNS(prev.* EXCLUDE (period, ru_code)) AS 'prev_\0',
       cur.black AND prev.black AS black_repeat
FROM dim_reporting_unit r
JOIN listed cur ON cur.ru_code = r.ru_code AND cur.period = 'cur'
JOIN listed prev ON prev.ru_code = r.ru_code AND prev.period = 'prev'
WHERE ($scope_township IS NULL OR r.township_code = $scope_township)
ORDER BY r.sort_order;
