-- The items of a 督办单 (warehouse/supervision.py) as of the end of $as_of (a DATE): for a reporting unit
-- ($ru_code), its events open and past their deadline (超期未办结, m_event_activity's overdue_open); for an
-- office ($office_name), its sign-offs unsigned $sign_red_hours or longer (红灯) of the reports of the last
-- $backlog_days days (those of signoff_backlog). days_overdue: whole days past the
-- deadline (events) or past the red limit (sign-offs). No event text; the reported person's name (sign-offs) is
-- masked by the caller's scope. A 乡镇 user gets only its own units' items, a 部门用户 only its office's.
WITH t AS (SELECT CAST(CAST($as_of AS DATE) + 1 AS TIMESTAMP) AS ts),
ev AS (
    SELECT 'event' AS kind, e.event_id AS item_id, e.category, g.unit_name AS grid_name, e.reported_at, e.deadline,
           CAST(floor(date_diff('hour', e.deadline, (SELECT ts FROM t)) / 24.0) AS INTEGER) AS days_overdue,
           NULL::VARCHAR AS person_name, e.township_code, e.ru_code, NULL::VARCHAR AS office_name
    FROM m_event_activity([m_period('cur', CAST($as_of AS DATE), CAST($as_of AS DATE) + 1)]) e
    LEFT JOIN dim_unit g ON g.unit_code = e.grid_code
    WHERE e.overdue_open AND e.ru_code = $ru_code AND $scope_office IS NULL
),
so AS (
    SELECT 'signoff' AS kind, s.report_id AS item_id, r.category, g.unit_name AS grid_name, s.reported_at,
           s.reported_at + to_seconds(CAST($sign_red_hours * 3600 AS BIGINT)) AS deadline,
           CAST(floor(date_diff('hour', s.reported_at + to_seconds(CAST($sign_red_hours * 3600 AS BIGINT)),
                                (SELECT ts FROM t)) / 24.0) AS INTEGER) AS days_overdue,
           r.person_name, s.township_code, s.ru_code, s.office_name
    FROM fact_kp_signoff s
    JOIN fact_kp_report r USING (report_id)
    LEFT JOIN dim_unit g ON g.unit_code = s.grid_code
    WHERE s.office_name = $office_name AND s.reported_at < (SELECT ts FROM t)
      AND (s.signed_at IS NULL OR s.signed_at > (SELECT ts FROM t))
      AND s.reported_at + to_seconds(CAST($sign_red_hours * 3600 AS BIGINT)) <= (SELECT ts FROM t)
      AND s.reported_at >= (SELECT ts FROM t) - to_days(CAST($backlog_days AS INTEGER))
      AND ($scope_office IS NULL OR s.office_name = $scope_office)
)
SELECT * FROM (SELECT * FROM ev UNION ALL SELECT * FROM so)
WHERE ($scope_township IS NULL OR township_code = $scope_township)
ORDER BY days_overdue DESC, reported_at, item_id;
