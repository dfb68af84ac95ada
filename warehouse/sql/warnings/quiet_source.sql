-- 预警 quiet_source (docs/metrics.md "预警"): a dataset whose newest record up to $as_of (a DATE), by its own time
-- column (activity_log: op_time; events, key_person_reports: reported_at; collection_stats: stat_date), is older
-- than its expected interval — more than $quiet_days days before $as_of ([warnings.quiet_days], bound as the
-- lists $quiet_datasets / $quiet_day_counts) — while some other dataset is within its own (the county goes on).
-- first_seen: the first day it was older than its interval. Also each configured feeding source
-- ([[sources]], source_health) whose last new data is older than its quiet_hours at the end of $as_of.
-- County-wide only (a 乡镇 user or a 部门用户 sees none).
WITH t AS (SELECT CAST($as_of AS DATE) AS d),
cfg AS (SELECT unnest($quiet_datasets) AS dataset, unnest($quiet_day_counts) AS days),
last AS (
    SELECT 'activity_log' AS dataset, max(day) AS last_day FROM agg_account_day WHERE day <= (SELECT d FROM t)
    UNION ALL
    SELECT 'events', CAST(max(reported_at) AS DATE) FROM agg_event
    WHERE reported_at < CAST((SELECT d FROM t) + 1 AS TIMESTAMP)
    UNION ALL
    SELECT 'key_person_reports', CAST(max(reported_at) AS DATE) FROM agg_kp_report
    WHERE reported_at < CAST((SELECT d FROM t) + 1 AS TIMESTAMP)
    UNION ALL
    SELECT 'collection_stats', max(stat_date) FROM fact_collection WHERE stat_date <= (SELECT d FROM t)
),
ds AS (
    SELECT l.dataset, l.last_day, c.days, (SELECT d FROM t) - l.last_day AS days_quiet,
           (SELECT d FROM t) - l.last_day > c.days AS quiet
    FROM last l JOIN cfg c USING (dataset)
    WHERE l.last_day IS NOT NULL
),
src AS (
    SELECT name, kind_label, coalesce(last_new_data, first_success) AS last_new, quiet_hours,
           date_diff('minute', coalesce(last_new_data, first_success), CAST((SELECT d FROM t) + 1 AS TIMESTAMP))
               / 60.0 AS hours_quiet
    FROM source_health
    WHERE coalesce(last_new_data, first_success) < CAST((SELECT d FROM t) + 1 AS TIMESTAMP)
)
SELECT 'quiet_source' AS rule, 'dataset' AS kind, ds.dataset AS name, f.title, ds.last_day AS last_record,
       ds.days_quiet, ds.days AS expected_days, NULL::DOUBLE AS hours_quiet, NULL::DOUBLE AS quiet_hours,
       ds.last_day + CAST(floor(ds.days) AS INTEGER) + 1 AS first_seen
FROM ds LEFT JOIN dataset_freshness f USING (dataset)
WHERE ds.quiet AND EXISTS (SELECT 1 FROM ds o WHERE o.dataset <> ds.dataset AND NOT o.quiet)
  AND $scope_township IS NULL AND $scope_office IS NULL
UNION ALL
SELECT 'quiet_source', 'source', name, kind_label, CAST(last_new AS DATE), NULL, NULL, hours_quiet, quiet_hours,
       CAST(last_new + to_seconds(CAST(quiet_hours * 3600 AS BIGINT)) AS DATE)
FROM src
WHERE hours_quiet > quiet_hours AND $scope_township IS NULL AND $scope_office IS NULL
ORDER BY kind, name;
