-- Every headline figure per reporting unit for [$start, $end), previous period beside each as prev_<name>, for
-- ranking bars and comparison; and the 红黑榜 (red and black list) of both periods.
-- Figures: m_unit_figures (warehouse/schema/50_metrics.sql).
--   score  m_score: the mean of the unit's defined figures among: activity_rate, min(completion_rate, 100%),
--          and fully_signed_rate (its key-person reports signed by every office they went to, by $cutoff).
--          NULL when none is defined, and for a previous period before the data (m_before_data: no 上期名次).
--   rank   by score, best first, over the whole county (a 乡镇 user sees only its own units, with their county
--          ranks; a 部门用户's key-person figures count only the reports addressed to its office).
--   red    among the $red_black_size best scores (ties at the boundary included) and above the lowest score (m_red);
--   black  among the $red_black_size worst scores (ties included), below the highest score, and not red (m_black).
--   black_repeat  black in this period and in the previous one (flagged on the list).
WITH f AS (
    SELECT * EXCLUDE (closed_on_time)
    FROM m_unit_figures(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), $min_active_days,
                        $week_active_days, m_grace($cutoff, $end), $scope_office)
),
scored AS (
    SELECT *, CASE WHEN NOT (period = 'prev' AND m_before_data($prev_end, (SELECT try_cast(value AS DATE) FROM meta
                                                                          WHERE key = 'data_first_day')))
                   THEN m_score(activity_rate, completion_rate, fully_signed_rate) END AS score
    FROM f
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
           m_red(rank, score, lowest, $red_black_size) AS red,
           m_black(rank, rank_worst, score, lowest, highest, $red_black_size) AS black
    FROM ranked
)
SELECT r.ru_code, r.ru_name, r.short_name, r.township_code, r.township_name, r.sort_order,
       cur.* EXCLUDE (period, ru_code), COLUMNS(prev.* EXCLUDE (period, ru_code)) AS 'prev_\0',
       cur.black AND prev.black AS black_repeat
FROM dim_reporting_unit r
JOIN listed cur ON cur.ru_code = r.ru_code AND cur.period = 'cur'
JOIN listed prev ON prev.ru_code = r.ru_code AND prev.period = 'prev'
WHERE ($scope_township IS NULL OR r.township_code = $scope_township)
  AND ($ru_code IS NULL OR r.ru_code = $ru_code)  -- one unit's row, ranked among all (NULL: every unit)
ORDER BY r.sort_order;
