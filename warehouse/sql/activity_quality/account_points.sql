-- One account's ($account_id) 巡查 points of [$start, $end) with its own grid and whether each lies inside it
-- (agg_patrol_point; inside NULL: no grid boundary), in the caller's scope (another 乡镇's account: no rows).
SELECT p.account_id, p.grid_code, p.township_code, p.op_time, p.day, p.terminal, p.lon, p.lat, p.inside
FROM agg_patrol_point p
WHERE p.account_id = $account_id AND p.day >= $start AND p.day < $end
  AND ($scope_township IS NULL OR p.township_code = $scope_township)
ORDER BY p.op_time;
