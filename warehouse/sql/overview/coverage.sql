-- What the warehouse holds for [$start, $end) in the caller's scope — days with account operations, events
-- reported and closed, key-person reports, collection statistics — and the days it holds at all (meta). The
-- bulletin refuses a period with no activity, no events and no reports.
SELECT
    (SELECT count(*) FROM agg_account_day d JOIN dim_account a USING (account_id)
     WHERE d.day >= $start AND d.day < $end
       AND ($scope_township IS NULL OR a.township_code = $scope_township)) AS account_days,
    (SELECT count(*) FROM fact_event WHERE reported_at >= $start AND reported_at < $end
       AND ($scope_township IS NULL OR township_code = $scope_township)) AS events_reported,
    (SELECT count(*) FROM fact_event WHERE closed_at >= $start AND closed_at < $end
       AND ($scope_township IS NULL OR township_code = $scope_township)) AS events_closed,
    (SELECT count(*) FROM fact_kp_report WHERE reported_at >= $start AND reported_at < $end
       AND ($scope_township IS NULL OR township_code = $scope_township)
       AND ($scope_office IS NULL OR police_station = $scope_office OR justice_office = $scope_office
            OR health_center = $scope_office)) AS kp_reports,
    (SELECT count(*) FROM fact_collection WHERE stat_date >= $start AND stat_date < $end
       AND ($scope_township IS NULL OR township_code = $scope_township)) AS collection_rows,
    (SELECT try_cast(value AS DATE) FROM meta WHERE key = 'data_first_day') AS data_first_day,
    (SELECT try_cast(value AS DATE) FROM meta WHERE key = 'data_last_day') AS data_last_day,
    (SELECT value FROM meta WHERE key = 'version') AS warehouse_version,
    (SELECT try_cast(value AS TIMESTAMP) FROM meta WHERE key = 'built_at') AS built_at,
    (SELECT value FROM meta WHERE key = 'county_name') AS county_name;
