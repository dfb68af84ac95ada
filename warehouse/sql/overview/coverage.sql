-- What the warehouse holds for [$start, $end) in the caller's scope — days with account operations, events
-- reported and closed, key-person reports, collection statistics — and the days it holds at all (meta). The
-- bulletin refuses a period with no activity, no events and no reports.
-- performance: one subquery per table (not one per figure) — ten scalar subqueries cost ~20 ms in the join
-- order optimizer alone.
SELECT a.account_days, e.events_reported, e.events_closed, k.kp_reports, c.collection_rows,
       m.data_first_day, m.data_last_day, m.warehouse_version, m.built_at, m.county_name
FROM (SELECT count(*) AS account_days
      FROM agg_account_day d JOIN dim_account a USING (account_id)
      WHERE d.day >= $start AND d.day < $end
        AND ($scope_township IS NULL OR a.township_code = $scope_township)) a,
     (SELECT count(*) FILTER (reported_at >= $start AND reported_at < $end) AS events_reported,
             count(*) FILTER (closed_at >= $start AND closed_at < $end) AS events_closed
      FROM fact_event
      WHERE ((reported_at >= $start AND reported_at < $end) OR (closed_at >= $start AND closed_at < $end))
        AND ($scope_township IS NULL OR township_code = $scope_township)) e,
     (SELECT count(*) AS kp_reports FROM fact_kp_report WHERE reported_at >= $start AND reported_at < $end
        AND ($scope_township IS NULL OR township_code = $scope_township)
        AND ($scope_office IS NULL OR police_station = $scope_office OR justice_office = $scope_office
             OR health_center = $scope_office)) k,
     (SELECT count(*) AS collection_rows FROM fact_collection WHERE stat_date >= $start AND stat_date < $end
        AND ($scope_township IS NULL OR township_code = $scope_township)) c,
     (SELECT try_cast(max(value) FILTER (key = 'data_first_day') AS DATE) AS data_first_day,
             try_cast(max(value) FILTER (key = 'data_last_day') AS DATE) AS data_last_day,
             max(value) FILTER (key = 'version') AS warehouse_version,
             try_cast(max(value) FILTER (key = 'built_at') AS TIMESTAMP) AS built_at,
             max(value) FILTER (key = 'county_name') AS county_name
      FROM meta) m;
