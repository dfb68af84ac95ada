-- 预警 silent_unit (docs/metrics.md "预警"): a reporting unit that has reported no event for $silent_days days or
-- more up to the end of $as_of (a DATE), while the county goes on reporting (some event reported in those days;
-- a county-wide silence is the events feed gone quiet: quiet_source). days_silent: the days after its last event
-- up to $as_of (never reported: after the day before the county's first event). first_seen: the day the silence
-- reached $silent_days days.
-- Reporting units only: a 乡镇 user sees its own, a 部门用户 none.
WITH t AS (SELECT CAST($as_of AS DATE) AS d),
ev AS (
    SELECT ru_code, CAST(max(reported_at) AS DATE) AS last_day
    FROM agg_event WHERE reported_at < CAST((SELECT d FROM t) + 1 AS TIMESTAMP) GROUP BY ALL
),
county AS (
    SELECT CAST(min(reported_at) AS DATE) AS first_day, CAST(max(reported_at) AS DATE) AS last_day
    FROM agg_event WHERE reported_at < CAST((SELECT d FROM t) + 1 AS TIMESTAMP)
),
u AS (
    SELECT r.ru_code, r.ru_name, r.short_name, r.township_code, r.sort_order, ev.last_day,
           coalesce(ev.last_day, county.first_day - 1) AS quiet_after,
           (SELECT d FROM t) - coalesce(ev.last_day, county.first_day - 1) AS days_silent,
           county.last_day AS county_last_day
    FROM dim_reporting_unit r CROSS JOIN county LEFT JOIN ev ON ev.ru_code = r.ru_code
    WHERE county.first_day IS NOT NULL
)
SELECT 'silent_unit' AS rule, ru_code, ru_name, short_name, township_code, sort_order, last_day, days_silent,
       quiet_after + CAST($silent_days AS INTEGER) AS first_seen
FROM u
WHERE days_silent >= $silent_days
  AND county_last_day > (SELECT d FROM t) - CAST($silent_days AS INTEGER)
  AND ($scope_township IS NULL OR township_code = $scope_township)
  AND $scope_office IS NULL
ORDER BY days_silent DESC, sort_order;
