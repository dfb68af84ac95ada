-- 今日: what happened today up to $as_of (the wall passes now: never a future time, so future-dated rows in the
-- feeds do not count), the county (or the caller's 乡镇), one row. Today = the calendar day of $as_of.
--   events_reported   events reported today before $as_of
--   events_closed     events closed today before $as_of (whenever reported)
--   accounts, accounts_active   grid-worker accounts enabled at $as_of; those with an operation today before $as_of
--   became_overdue    events whose deadline passed today before $as_of and that were still open at $as_of
--   overdue_open      events open at $as_of with their deadline passed (超期未办结 now)
WITH d AS (SELECT CAST($as_of AS TIMESTAMP) AS t, date_trunc('day', CAST($as_of AS TIMESTAMP)) AS d0),
e AS (
    SELECT count(*) FILTER (e.reported_at >= d.d0 AND e.reported_at < d.t) AS events_reported,
           count(*) FILTER (e.closed_at >= d.d0 AND e.closed_at < d.t) AS events_closed,
           count(*) FILTER (e.deadline >= d.d0 AND e.deadline < d.t AND e.reported_at < d.t
                            AND NOT coalesce(e.ended_at < d.t, FALSE)) AS became_overdue,
           count(*) FILTER (e.deadline < d.t AND e.reported_at < d.t
                            AND NOT coalesce(e.ended_at < d.t, FALSE)) AS overdue_open
    FROM agg_event e, d
    WHERE ($scope_township IS NULL OR e.township_code = $scope_township)
      AND (e.reported_at < d.t AND (e.ended_at IS NULL OR e.ended_at >= d.d0 OR e.closed_at >= d.d0))
),
acc AS (
    SELECT a.account_id
    FROM dim_account a, d
    WHERE a.is_grid_worker AND coalesce(a.opened_at, TIMESTAMP '1900-01-01') < d.t
      AND (a.status IS DISTINCT FROM '停用' OR coalesce(a.closed_at, a.updated_at) >= d.d0)
      AND ($scope_township IS NULL OR a.township_code = $scope_township)
),
act AS (
    SELECT DISTINCT f.account_id
    FROM fact_activity f, d
    WHERE f.op_time >= d.d0 AND f.op_time < d.t
)
SELECT e.events_reported, e.events_closed, e.became_overdue, e.overdue_open,
       (SELECT count(*) FROM acc) AS accounts,
       (SELECT count(*) FROM acc JOIN act USING (account_id)) AS accounts_active
FROM e;
