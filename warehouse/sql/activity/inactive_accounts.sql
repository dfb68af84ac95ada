-- Grid-worker accounts counted in [$start, $end) but not active, of one reporting unit ($ru_code), 社区/村
-- ($community_code) or grid ($grid_code) — NULL = all in scope — with their active days, the days they needed,
-- and their last day with any operation before $end (NULL: never). person_name and phone are personal data:
-- the runner masks or drops them by the caller's scope.
WITH acc AS (
    SELECT *
    FROM m_account_activity([m_period('cur', $start, $end, at_ts := $period_asof)], $min_active_days, $week_active_days)
    WHERE is_grid_worker AND NOT active
      AND ($scope_township IS NULL OR township_code = $scope_township)
      AND ($ru_code IS NULL OR ru_code = $ru_code)
      AND ($community_code IS NULL OR community_code = $community_code)
      AND ($grid_code IS NULL OR unit_code = $grid_code)
),
last_day AS (  -- the months before the one $end falls in from agg_account_month, the days of that one by day
    SELECT account_id, max(day) AS last_active_day
    FROM (SELECT m.account_id, m.last_day AS day
          FROM agg_account_month m SEMI JOIN acc ON acc.account_id = m.account_id
          WHERE m.month < date_trunc('month', CAST($end AS DATE))
          UNION ALL
          SELECT d.account_id, d.day
          FROM agg_account_day d SEMI JOIN acc ON acc.account_id = d.account_id
          WHERE d.day >= date_trunc('month', CAST($end AS DATE)) AND d.day < $end)
    GROUP BY ALL
)
SELECT a.account_id, d.person_name, d.phone, a.role, a.status, a.opened_at, a.closed_at,
       a.unit_code, u.unit_name, u.community_name, a.township_code, u.township_name, a.ru_code,
       r.short_name AS ru_short_name, a.active_days, CAST(a.needed_days AS INTEGER) AS needed_days,
       l.last_active_day
FROM acc a
JOIN dim_account d USING (account_id)
LEFT JOIN dim_unit u ON u.unit_code = a.unit_code
LEFT JOIN dim_reporting_unit r ON r.ru_code = a.ru_code
LEFT JOIN last_day l USING (account_id)
ORDER BY r.sort_order, a.unit_code, l.last_active_day NULLS FIRST, a.account_id;
