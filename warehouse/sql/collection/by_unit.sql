-- 采集率 per reporting unit at the end of [$start, $end): registered households of its grids, households
-- collected (each grid's latest cumulative statistics before the end), the rate, the other cumulative counts;
-- the previous period's end beside it. A unit whose grids have no registered households: rate NULL ("—").
WITH c AS (
    SELECT period, ru_code, count(*) AS grids, sum(households) AS households,
           sum(collected) FILTER (households > 0) AS collected,
           sum(persons) AS persons, sum(floating) AS floating, sum(houses) AS houses, sum(rentals) AS rentals,
           sum(key_places) AS key_places, max(stat_date) AS last_stat_date
    FROM m_collection(m_cur_prev($start, $end, $prev_start, $prev_end))
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
    GROUP BY ALL
)
SELECT r.ru_code, r.ru_name, r.short_name, r.township_code, r.sort_order,
       coalesce(c.grids, 0) AS grids, coalesce(c.households, 0) AS households, coalesce(c.collected, 0) AS collected,
       m_collection_rate(c.collected, c.households) AS rate,
       c.persons, c.floating, c.houses, c.rentals, c.key_places, c.last_stat_date,
       coalesce(p.collected, 0) AS prev_collected, m_collection_rate(p.collected, p.households) AS prev_rate
FROM dim_reporting_unit r
LEFT JOIN c ON c.period = 'cur' AND c.ru_code = r.ru_code
LEFT JOIN c p ON p.period = 'prev' AND p.ru_code = r.ru_code
WHERE ($scope_township IS NULL OR r.township_code = $scope_township)
ORDER BY r.sort_order;
