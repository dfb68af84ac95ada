-- One account's ($account_id) operations by day and hour of [$start, $end) (the hour × day pattern), in the
-- caller's scope (another 乡镇's account: no rows).
SELECT h.account_id, a.township_code, h.day, h.hour, h.n_ops, h.n_patrol
FROM agg_aq_hour h JOIN dim_account a USING (account_id)
WHERE h.account_id = $account_id AND h.day >= $start AND h.day < $end
  AND ($scope_township IS NULL OR a.township_code = $scope_township)
ORDER BY h.day, h.hour;
