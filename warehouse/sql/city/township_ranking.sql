-- The reporting units (乡镇) of a city ranked across its counties for [$start, $end), previous period beside each
-- as prev_<name>: the figures of m_unit_figures (rates from each unit's own counts), the composite score (m_score)
-- ranked over the whole city (city_rank, ties share a rank, no score: not ranked) and within the unit's county
-- (county_rank), and the city's 红黑榜 of units (m_red / m_black over the city, $red_black_size).
-- movement = prev_city_rank − city_rank (positive: moved up). $county_code (NULL: every county) chooses the rows
-- shown, after the ranking (a county's units keep their city ranks). Best first.
-- The counties themselves are ranked by overview/unit_ranking on the counties-as-units connection (Scope(by_county)).
WITH f AS (
    SELECT * EXCLUDE (closed_on_time)
    FROM m_unit_figures(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof), $min_active_days,
                        $week_active_days, m_grace($cutoff, $end), $scope_office)
),
scored AS (
    SELECT f.*, r.county_code,
           -- a previous period before the data (m_before_data): no score, no rank
           CASE WHEN NOT (f.period = 'prev' AND m_before_data($prev_end, (SELECT try_cast(value AS DATE) FROM meta
                                                                          WHERE key = 'data_first_day')))
                THEN m_score(f.activity_rate, f.completion_rate, f.fully_signed_rate) END AS score
    FROM f JOIN dim_reporting_unit r USING (ru_code)
),
ranked AS (
    SELECT *,
           CASE WHEN score IS NOT NULL THEN rank() OVER (PARTITION BY period ORDER BY score DESC) END AS city_rank,
           CASE WHEN score IS NOT NULL THEN rank() OVER (PARTITION BY period ORDER BY score ASC) END AS rank_worst,
           CASE WHEN score IS NOT NULL THEN rank() OVER (PARTITION BY period, county_code ORDER BY score DESC) END
               AS county_rank,
           min(score) OVER (PARTITION BY period) AS lowest, max(score) OVER (PARTITION BY period) AS highest
    FROM scored
),
listed AS (
    SELECT * EXCLUDE (rank_worst, lowest, highest),
           m_red(city_rank, score, lowest, $red_black_size) AS red,
           m_black(city_rank, rank_worst, score, lowest, highest, $red_black_size) AS black
    FROM ranked
)
SELECT r.county_code, r.county_name, r.ru_code, r.ru_name, r.short_name, r.township_code, r.township_name,
       r.sort_order,
       cur.* EXCLUDE (period, ru_code, county_code), COLUMNS(prev.* EXCLUDE (period, ru_code, county_code)) AS 'prev_\0',
       cur.black AND prev.black AS black_repeat, prev.city_rank - cur.city_rank AS movement
FROM dim_reporting_unit r
JOIN listed cur ON cur.ru_code = r.ru_code AND cur.period = 'cur'
JOIN listed prev ON prev.ru_code = r.ru_code AND prev.period = 'prev'
WHERE ($scope_township IS NULL OR r.township_code = $scope_township)
  AND ($county_code IS NULL OR r.county_code = $county_code)
ORDER BY cur.city_rank NULLS LAST, r.sort_order;
