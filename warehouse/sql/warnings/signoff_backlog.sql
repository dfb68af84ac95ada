-- 预警 signoff_backlog (docs/metrics.md "预警"): an office (派出所/司法所/卫生院, named on the reports) with more than
-- $red_backlog_limit red sign-offs at the end of $as_of (a DATE): reported in the $backlog_days days up to then,
-- unsigned, and waiting $sign_red_hours or longer (the 红灯 of overview/signoff_backlog, of the recent reports:
-- what can still be chased, not every report an office has left unsigned for years). first_seen: the first day of the unbroken run of days, up to
-- $as_of, at whose end the office's red count was over the limit (traced $history_weeks weeks back).
-- A 部门用户 sees its own office; a 乡镇 user the offices of its 乡镇.
WITH d AS (
    SELECT CAST(unnest(generate_series(CAST($as_of AS DATE) - CAST(7 * $history_weeks AS INTEGER),
                                       CAST($as_of AS DATE), INTERVAL 1 DAY)) AS DATE) AS day
),
s AS (
    SELECT office_kind, office_name, township_code, reported_at, signed_at,
           reported_at + to_seconds(CAST($sign_red_hours * 3600 AS BIGINT)) AS red_from
    FROM fact_kp_signoff
    WHERE office_name IS NOT NULL AND reported_at < CAST(CAST($as_of AS DATE) + 1 AS TIMESTAMP)
),
daily AS (
    SELECT s.office_kind, s.office_name, d.day, count(*) AS red, min(s.reported_at) AS oldest_reported,
           arg_min(s.township_code, s.reported_at) AS report_township
    FROM s JOIN d ON s.red_from <= CAST(d.day + 1 AS TIMESTAMP)
                 AND s.reported_at >= CAST(d.day + 1 - CAST($backlog_days AS INTEGER) AS TIMESTAMP)
                 AND (s.signed_at IS NULL OR s.signed_at > CAST(d.day + 1 AS TIMESTAMP))
    GROUP BY ALL
),
now AS (SELECT * FROM daily WHERE day = CAST($as_of AS DATE) AND red > $red_backlog_limit),
pending AS (
    SELECT office_kind, office_name, count(*) AS unsigned
    FROM s
    WHERE (s.signed_at IS NULL OR s.signed_at > CAST(CAST($as_of AS DATE) + 1 AS TIMESTAMP))
      AND s.reported_at >= CAST(CAST($as_of AS DATE) + 1 - CAST($backlog_days AS INTEGER) AS TIMESTAMP)
    GROUP BY ALL
),
last_ok AS (  -- the last day up to $as_of whose end saw the office at or under the limit (no row: 0 red)
    SELECT n.office_kind, n.office_name,
           max(d.day) FILTER (coalesce(x.red, 0) <= $red_backlog_limit) AS last_ok_day
    FROM now n CROSS JOIN d
    LEFT JOIN daily x ON x.office_kind = n.office_kind AND x.office_name = n.office_name AND x.day = d.day
    GROUP BY ALL
)
SELECT 'signoff_backlog' AS rule, n.office_kind, n.office_name,
       coalesce(o.township_code, n.report_township) AS township_code, o.township_name,
       n.red, p.unsigned, date_diff('minute', n.oldest_reported, CAST(CAST($as_of AS DATE) + 1 AS TIMESTAMP)) / 60.0
           AS oldest_hours,
       coalesce(l.last_ok_day + 1, CAST($as_of AS DATE) - CAST(7 * $history_weeks AS INTEGER)) AS first_seen
FROM now n
JOIN pending p ON p.office_kind = n.office_kind AND p.office_name = n.office_name
JOIN last_ok l ON l.office_kind = n.office_kind AND l.office_name = n.office_name
LEFT JOIN dim_office o ON o.office_name = n.office_name
WHERE ($scope_office IS NULL OR n.office_name = $scope_office)
  AND ($scope_township IS NULL OR coalesce(o.township_code, n.report_township) = $scope_township)
ORDER BY n.red DESC, n.office_name;
