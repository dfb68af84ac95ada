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

-- Every quarantined row with its state: 已更正 when a later delivery brought the row back corrected (q_resolution,
-- warehouse/build.py: by record key, or for a row whose key was missing by its content), else 未解决; and the
-- 乡镇 it belongs to (its grid or unit code, else its account's or its event's 乡镇, else the 乡镇 whose user
-- uploaded the file), for the open list per 乡镇.
CREATE TABLE dq_quarantine AS
WITH c AS (
    SELECT q.*,
           coalesce(nullif(trim(json_extract_string(q.raw, '$.grid_code')), ''),
                    nullif(trim(json_extract_string(q.raw, '$.unit_code')), '')) AS code,
           coalesce(nullif(trim(json_extract_string(q.raw, '$.account_id')), ''),
                    nullif(trim(json_extract_string(q.raw, '$.reporter_account')), '')) AS acct,
           nullif(trim(json_extract_string(q.raw, '$.event_id')), '') AS ev
    FROM quarantine q
), t AS (
    SELECT c.*, coalesce(CASE WHEN length(c.code) >= 9 THEN left(c.code, 9) END, a.township_code,
                         e.township_code, f.scope_township) AS township_code
    FROM c
    LEFT JOIN etl_file f ON f.delivery = c.delivery
    LEFT JOIN dim_account a ON c.code IS NULL AND a.account_id = c.acct
    LEFT JOIN fact_event e ON c.code IS NULL AND c.acct IS NULL AND e.event_id = c.ev
)
SELECT t.dataset, t.source_file, t.source_row, t.reason, t.reason_kind, t.raw, t.delivery,
       CASE WHEN r.corrected_file IS NULL THEN '未解决' ELSE '已更正' END AS status,
       r.corrected_file, r.corrected_delivery, r.corrected_at, r.matched_by,
       t.township_code, coalesce(tw.unit_name, '未能确定乡镇') AS township_name
FROM t
LEFT JOIN q_resolution r USING (delivery, source_row)
LEFT JOIN stg_org_units tw ON tw.unit_code = t.township_code AND tw.level = '乡镇'
ORDER BY t.delivery, t.source_row;
