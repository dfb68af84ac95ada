-- Data quality: flags on current records, quarantine, per-dataset freshness.
-- Inputs: etl_file (manifests), etl_run (run logs), quarantine (landed quarantine parts), stg_stats;
-- dq_unknown_code (build.py: the delivered values of unknown codes).

CREATE TABLE dq_flag AS
WITH f AS (
    SELECT 'org_units' AS dataset, unnest(_flags) AS flag FROM dim_unit
    UNION ALL SELECT 'accounts', unnest(_flags) FROM dim_account
    UNION ALL SELECT 'activity_log', unnest(_flags) FROM fact_activity
    UNION ALL SELECT 'events', unnest(_flags) FROM fact_event
    UNION ALL SELECT 'event_flow', unnest(_flags) FROM fact_event_flow
    UNION ALL SELECT 'key_person_reports', unnest(_flags) FROM fact_kp_report
    UNION ALL SELECT 'collection_stats', unnest(_flags) FROM fact_collection
)
SELECT dataset, flag, count(*) AS n FROM f GROUP BY ALL ORDER BY dataset, n DESC;

-- max_updated_at: the newest updated_at no later than its delivery's landing + [etl] future_tolerance_hours;
-- future_rows / max_future_updated_at: the records dated later than that (a wrong clock; never freshness).
CREATE TABLE dataset_freshness AS
SELECT s.dataset, s.title, s.records, s.landed_rows, s.landed_rows - s.records AS superseded, s.max_updated_at,
       s.future_rows, s.max_future_updated_at,
       f.files, f.last_landed_at, f.last_file,
       coalesce(q.quarantined, 0) AS quarantined
FROM stg_stats s
LEFT JOIN (SELECT dataset, count(*) AS files, max(landed_at) AS last_landed_at, arg_max(file, delivery_order) AS last_file
           FROM etl_file GROUP BY ALL) f USING (dataset)
LEFT JOIN (SELECT dataset, count(*) AS quarantined FROM quarantine GROUP BY ALL) q USING (dataset)
ORDER BY s.dataset;
