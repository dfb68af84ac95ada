-- Data quality: flags on current records, quarantine, freshness per county and per dataset.
-- Inputs: etl_file (manifests), etl_run (run logs), quarantine (landed quarantine parts), cfg_dataset (the
-- datasets); build.bookkeeping: stg_landed (landed rows per delivery and county), file_limit and build_limit (how
-- late a record may be dated); dq_unknown_code (build.py: the delivered values of unknown codes).

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

-- The activity's current records per month, account and delivered file, counted as dq_county_record counts them
-- (below): how many, the newest updated_at no later than the file's limit (`lim`: file_limit, for a file without a
-- manifest build_limit) and the ones dated later. A month-local table (warehouse/build.py MONTH_LOCAL: a daily run
-- recomputes the months it changed, and those of rows whose limit is no longer the one they were counted under —
-- a file of the same name delivered again): the activity is most of the records, read once per month, not per run.
CREATE TABLE dq_activity_file AS
WITH l AS (
    SELECT CAST(date_trunc('month', l.op_time) AS DATE) AS month, l.account_id, l._file, l.updated_at,
           coalesce(f.lim, (SELECT lim FROM build_limit)) AS lim
    FROM stg_activity_log l LEFT JOIN file_limit f ON f.file = l._file
)
SELECT month, account_id, _file, lim, count(*) AS records,
       max(updated_at) FILTER (NOT (updated_at > lim)) AS max_updated_at,
       count(*) FILTER (updated_at > lim) AS future_rows,
       max(updated_at) FILTER (updated_at > lim) AS max_future_updated_at
FROM l GROUP BY ALL
ORDER BY month, _file, account_id;

-- Freshness per county (a city deployment holds several; warehouse/scoped.py computes dataset_freshness of one
-- county from these rows of it). Every current record with its county — the rule warehouse/scoped.py scopes the
-- records by: the first 6 digits of its unit or grid code (区划代码), activity by its account's county, an event's
-- flow by its event's grid; NULL: of no county — counted per county and delivered file: how many, the newest
-- updated_at no later than its delivery's landing + [etl] future_tolerance_hours (file_limit; a file without a
-- manifest: build_limit), and the ones dated later (future_rows / max_future_updated_at: a wrong clock, never
-- freshness).
CREATE TEMP TABLE dq_county_record AS
WITH r AS (
    SELECT 'org_units' AS dataset, CASE WHEN length(unit_code) >= 6 THEN left(unit_code, 6) END AS county_code,
           updated_at, _file
    FROM stg_org_units
    UNION ALL
    SELECT 'accounts', CASE WHEN length(unit_code) >= 6 THEN left(unit_code, 6) END, updated_at, _file
    FROM stg_accounts
    UNION ALL
    SELECT 'events', CASE WHEN length(grid_code) >= 6 THEN left(grid_code, 6) END, updated_at, _file FROM stg_events
    UNION ALL
    SELECT 'event_flow', CASE WHEN length(e.grid_code) >= 6 THEN left(e.grid_code, 6) END, f.updated_at, f._file
    FROM stg_event_flow f LEFT JOIN stg_events e ON e.event_id = f.event_id
    UNION ALL
    SELECT 'key_person_reports', CASE WHEN length(grid_code) >= 6 THEN left(grid_code, 6) END, updated_at, _file
    FROM stg_key_person_reports
    UNION ALL
    SELECT 'collection_stats', CASE WHEN length(grid_code) >= 6 THEN left(grid_code, 6) END, updated_at, _file
    FROM stg_collection_stats
), t AS (
    SELECT r.dataset, r.county_code, r._file AS file, r.updated_at,
           r.updated_at > coalesce(f.lim, (SELECT lim FROM build_limit)) AS future
    FROM r LEFT JOIN file_limit f ON f.file = r._file
)
SELECT dataset, county_code, file, count(*) AS records, max(updated_at) FILTER (NOT future) AS max_updated_at,
       count(*) FILTER (future) AS future_rows, max(updated_at) FILTER (future) AS max_future_updated_at
FROM t GROUP BY ALL
UNION ALL  -- the activity, by its account's county: from its counts per month, account and file
SELECT 'activity_log', a.county_code, x._file, CAST(sum(x.records) AS BIGINT), max(x.max_updated_at),
       CAST(sum(x.future_rows) AS BIGINT), max(x.max_future_updated_at)
FROM dq_activity_file x LEFT JOIN dim_account a ON a.account_id = x.account_id
GROUP BY ALL;

-- Per dataset and county (NULL: of no county, in the city's figures only): its current records (dq_county_record),
-- its landed rows, its quarantined rows (by their 乡镇, dq_quarantine). A row's landed county is its part's
-- county= partition in the lake (stg_landed); the rows of a file that landed under no county only (county=unknown:
-- activity or an event's flow, which carry no 区划代码 of their own, of a city lake landed so) count for a county
-- as many as the county's current records from that file, the rest (their superseded versions, rows of no county)
-- for the city only. The counties' and NULL's rows add up to the dataset's.
CREATE TABLE dq_county_freshness AS
WITH unplaced AS (
    SELECT l.dataset, f.file FROM stg_landed l JOIN etl_file f ON f.delivery = l.delivery
    GROUP BY l.dataset, f.file HAVING count(l.county_code) = 0
), placed AS (
    SELECT r.dataset, r.county_code, sum(r.records) AS n
    FROM dq_county_record r JOIN unplaced u ON u.dataset = r.dataset AND u.file = r.file
    WHERE r.county_code IS NOT NULL
    GROUP BY r.dataset, r.county_code
), parts AS (
    SELECT dataset, county_code, records, 0 AS landed_rows, max_updated_at, future_rows, max_future_updated_at,
           0 AS quarantined
    FROM dq_county_record
    UNION ALL
    SELECT dataset, county_code, 0, landed_rows, NULL, 0, NULL, 0 FROM stg_landed
    UNION ALL
    SELECT dataset, county_code, 0, n, NULL, 0, NULL, 0 FROM placed
    UNION ALL
    SELECT dataset, NULL, 0, -n, NULL, 0, NULL, 0 FROM placed
    UNION ALL
    SELECT dataset, CASE WHEN length(township_code) >= 6 THEN left(township_code, 6) END, 0, 0, NULL, 0, NULL, 1
    FROM dq_quarantine
)
SELECT dataset, county_code, CAST(sum(records) AS BIGINT) AS records, CAST(sum(landed_rows) AS BIGINT) AS landed_rows,
       max(max_updated_at) AS max_updated_at, CAST(sum(future_rows) AS BIGINT) AS future_rows,
       max(max_future_updated_at) AS max_future_updated_at, CAST(sum(quarantined) AS BIGINT) AS quarantined
FROM parts
GROUP BY dataset, county_code
ORDER BY dataset, county_code;

-- The deliveries of each county's rows per dataset: a landed part of its county (stg_landed), a quarantined row of
-- its (dq_quarantine), or a file that landed under no county only with a current record of its; NULL: a delivery
-- of no county's rows (in the city's figures only). Every delivery is here at least once.
CREATE TABLE dq_county_delivery AS
WITH unplaced AS (
    SELECT l.dataset, f.file FROM stg_landed l JOIN etl_file f ON f.delivery = l.delivery
    GROUP BY l.dataset, f.file HAVING count(l.county_code) = 0
), c AS (
    SELECT delivery, county_code FROM stg_landed WHERE county_code IS NOT NULL
    UNION
    SELECT delivery, left(township_code, 6) FROM dq_quarantine WHERE length(township_code) >= 6
    UNION
    SELECT f.delivery, r.county_code
    FROM dq_county_record r
    JOIN unplaced u ON u.dataset = r.dataset AND u.file = r.file
    JOIN etl_file f ON f.dataset = r.dataset AND f.file = r.file
    WHERE r.county_code IS NOT NULL
)
SELECT f.dataset, c.county_code, f.delivery, f.file, f.landed_at, f.delivery_order
FROM etl_file f JOIN c ON c.delivery = f.delivery
UNION ALL
SELECT f.dataset, NULL, f.delivery, f.file, f.landed_at, f.delivery_order
FROM etl_file f ANTI JOIN c ON c.delivery = f.delivery
ORDER BY dataset, county_code, delivery;

DROP TABLE dq_county_record;

-- Per dataset (every dataset of the contract): records, landed rows, superseded versions, quarantined rows, files,
-- the last delivery and the newest update — of the whole warehouse, or of one county (warehouse/scoped.py: this
-- statement over that county's rows of dq_county_freshness and dq_county_delivery). max_updated_at: the newest
-- updated_at no later than its delivery's landing + [etl] future_tolerance_hours; future_rows /
-- max_future_updated_at: the records dated later than that (a wrong clock; never freshness).
CREATE TABLE dataset_freshness AS
SELECT d.dataset, d.title, coalesce(c.records, 0) AS records, coalesce(c.landed_rows, 0) AS landed_rows,
       coalesce(c.landed_rows, 0) - coalesce(c.records, 0) AS superseded, c.max_updated_at,
       coalesce(c.future_rows, 0) AS future_rows, c.max_future_updated_at,
       f.files, f.last_landed_at, f.last_file,
       coalesce(c.quarantined, 0) AS quarantined
FROM cfg_dataset d
LEFT JOIN (SELECT dataset, CAST(sum(records) AS BIGINT) AS records, CAST(sum(landed_rows) AS BIGINT) AS landed_rows,
                  max(max_updated_at) AS max_updated_at, CAST(sum(future_rows) AS BIGINT) AS future_rows,
                  max(max_future_updated_at) AS max_future_updated_at,
                  CAST(sum(quarantined) AS BIGINT) AS quarantined
           FROM dq_county_freshness GROUP BY dataset) c ON c.dataset = d.dataset
LEFT JOIN (SELECT dataset, count(DISTINCT delivery) AS files, max(landed_at) AS last_landed_at,
                  arg_max(file, delivery_order) AS last_file
           FROM dq_county_delivery GROUP BY dataset) f ON f.dataset = d.dataset
ORDER BY d.dataset;
