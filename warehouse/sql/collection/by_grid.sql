-- 采集率 per grid of one reporting unit ($ru_code) and optionally one 社区/村 ($community_code) — NULL = all in
-- scope — at the end of [$start, $end), the previous period's end beside it.
WITH c AS (
    SELECT * FROM m_collection(m_cur_prev($start, $end, $prev_start, $prev_end))
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
      AND ($ru_code IS NULL OR ru_code = $ru_code)
      AND ($community_code IS NULL OR community_code = $community_code)
)
SELECT c.grid_code, c.grid_name, c.community_code, c.community_name, c.township_code, c.ru_code,
       c.households, c.collected, m_collection_rate(c.collected, c.households) AS rate, c.stat_date,
       c.persons, c.floating, c.houses, c.rentals, c.key_places,
       p.collected AS prev_collected, m_collection_rate(p.collected, p.households) AS prev_rate
FROM c JOIN c p ON p.grid_code = c.grid_code AND p.period = 'prev'
WHERE c.period = 'cur'
ORDER BY c.grid_code;
