-- 有效活跃度 and 巡查覆盖 (docs/metrics.md "有效活跃度与巡查覆盖"): is the activity real?
--
-- Built at publish, threshold-free: what an account did per day (agg_aq_day) and per hour of a day (agg_aq_hour),
-- and every 巡查 point with whether it lies inside its account's own grid polygon (agg_patrol_point). The signals
-- are computed per period at query time by m_activity_quality, with the thresholds of [activity_quality] bound as
-- parameters ($aq_…), so a changed threshold needs no new build.

-- ---------------------------------------------------------------------------------------------------- grid edges
-- The edges of every grid's boundary (GeoJSON Polygon or MultiPolygon, WGS84; every ring, holes included), for the
-- even-odd point-in-polygon test below (pure SQL: no spatial extension). A ring need not be closed: the last
-- vertex is joined to the first (a closed ring adds a zero-length edge, which never counts).
-- Written portable (warehouse/portable.py): the JSON cast next to its json_extract, array_length, generate_series.
CREATE TEMP TABLE aq_grid_edge AS
WITH g AS (
    SELECT unit_code AS grid_code, json_extract_string(boundary, '$.type') AS kind, boundary
    FROM dim_unit WHERE level = '网格' AND boundary IS NOT NULL
),
rings AS (
    SELECT grid_code, unnest(TRY_CAST(json_extract(boundary, '$.coordinates') AS DOUBLE[][][])) AS ring
    FROM g WHERE kind = 'Polygon'
    UNION ALL
    SELECT grid_code, unnest(flatten(TRY_CAST(json_extract(boundary, '$.coordinates') AS DOUBLE[][][][])))
    FROM g WHERE kind = 'MultiPolygon'
),
v AS (SELECT grid_code, ring, unnest(generate_series(1, array_length(ring))) AS i FROM rings WHERE array_length(ring) >= 3)
SELECT grid_code, ring[i][1] AS x1, ring[i][2] AS y1, ring[i % array_length(ring) + 1][1] AS x2,
       ring[i % array_length(ring) + 1][2] AS y2
FROM v;

-- ---------------------------------------------------------------------------------------------------- patrol points
-- Every 巡查 with a position: the account's own grid (its unit, when that is a 网格) and `inside` = the point lies
-- inside that grid's polygon (NULL: the account has no grid, or its grid no boundary).
CREATE TABLE agg_patrol_point AS
WITH p AS (
    SELECT f.log_id, f.account_id, CASE WHEN a.unit_level = '网格' THEN a.unit_code END AS grid_code,
           f.op_time, f.op_date AS day, f.terminal, f.lon, f.lat, a.township_code, a.ru_code
    FROM fact_activity f JOIN dim_account a USING (account_id)
    WHERE f.op_type = '巡查' AND f.lon IS NOT NULL AND f.lat IS NOT NULL
),
crossings AS (
    SELECT p.log_id, count(*) AS n
    FROM p JOIN aq_grid_edge e ON e.grid_code = p.grid_code
    WHERE (e.y1 > p.lat) <> (e.y2 > p.lat) AND p.lon < (e.x2 - e.x1) * (p.lat - e.y1) / (e.y2 - e.y1) + e.x1
    GROUP BY ALL
)
SELECT p.*, CASE WHEN p.grid_code IN (SELECT grid_code FROM aq_grid_edge) THEN coalesce(c.n, 0) % 2 = 1 END AS inside
FROM p LEFT JOIN crossings c USING (log_id)
ORDER BY p.op_time;

DROP TABLE aq_grid_edge;

-- ---------------------------------------------------------------------------------------------------- per day, per hour
-- One row per account and day with operations: how many (substantive ones: m_substantive_op), the first and last
-- operation's time, and the day's position fix: the most frequent position of its 手持终端/APP operations (rounded
-- to 6 decimals, the delivered precision), with how many operations had a position.
CREATE TABLE agg_aq_day AS
WITH fx AS (  -- the day's position fixes of a handheld / APP terminal, to 6 decimals
    SELECT account_id, op_date, round(lon, 6)::VARCHAR || ',' || round(lat, 6)::VARCHAR AS fix, count(*) AS c
    FROM fact_activity
    WHERE account_id IS NOT NULL AND op_date IS NOT NULL AND terminal IN ('手持终端', 'APP')
      AND lon IS NOT NULL AND lat IS NOT NULL
    GROUP BY ALL
),
best AS (  -- the most frequent one; a tie goes to the smallest (the same on every channel and every run): the
           -- least of (−count, fix) — an aggregate, not a window over every fix (a county's day table 1.5 → 0.9 s)
    SELECT account_id, op_date, min({'nc': -c, 'fix': fix})['fix'] AS fix, CAST(sum(c) AS BIGINT) AS n_fixes
    FROM fx
    GROUP BY ALL
),
d AS (
    SELECT account_id, op_date, count(*) AS n_ops, count(*) FILTER (m_substantive_op(op_type)) AS n_substantive,
           min(op_time) AS first_op, max(op_time) AS last_op
    FROM fact_activity
    WHERE account_id IS NOT NULL AND op_date IS NOT NULL
    GROUP BY ALL
)
SELECT d.account_id, d.op_date AS day, d.n_ops, d.n_substantive, d.first_op, d.last_op, b.fix,
       coalesce(b.n_fixes, 0) AS n_fixes
FROM d LEFT JOIN best b ON b.account_id = d.account_id AND b.op_date = d.op_date
ORDER BY day, d.account_id;

-- One row per account, day and hour with operations (the hour × day pattern; night batches): operations, 巡查 and
-- the first and last 巡查 of the hour.
CREATE TABLE agg_aq_hour AS
SELECT account_id, op_date AS day, CAST(hour(op_time) AS INTEGER) AS hour, count(*) AS n_ops,
       count(*) FILTER (op_type = '巡查') AS n_patrol,
       min(op_time) FILTER (op_type = '巡查') AS first_patrol, max(op_time) FILTER (op_type = '巡查') AS last_patrol
FROM fact_activity
WHERE account_id IS NOT NULL AND op_date IS NOT NULL
GROUP BY ALL
ORDER BY day, account_id, hour;

-- ---------------------------------------------------------------------------------------------------- signals
-- One row per grid-worker account counted in [ps, pe) (m_account_activity: the official rate's accounts and rule,
-- `active`; `effective` the same rule over the days with substantive work), with the evidence of every signal and
-- `signals`, the names of those it raises, in this order
-- (their Chinese labels: warehouse/fmt.py AQ_SIGNALS). `t` is a STRUCT of the [activity_quality] thresholds (m_aq_thresholds):
--   login_only    login_only_days (days with operations but only 登录/其他) ≥ t.login_only_days
--   bunched       bunched_days (days with ≥ t.bunched_min_ops operations, all within t.bunched_minutes) ≥
--                 t.bunched_days
--   night_batch   night_days (days with ≥ t.night_min_ops 巡查 between t.night_start_hour and t.night_end_hour
--                 o'clock, all within t.night_burst_minutes) ≥ t.night_days; night_ops = the 巡查 of those bursts
--   same_gps      same_fix_days (the most days one position fix of 手持终端/APP was the day's fix) ≥
--                 t.same_fix_days
--   outside_grid  of patrol_points (巡查 with a position, the account's grid has a boundary) ≥ t.outside_min_points,
--                 outside_share (outside the account's own grid) ≥ t.outside_share
CREATE MACRO m_activity_quality(ps, pe, at_ts, min_days, week_days, t) AS TABLE
WITH acc AS (
    SELECT account_id, role, unit_code, unit_level, township_code, community_code, ru_code, active_days,
           effective_days, needed_days, active, effective
    FROM m_account_activity([m_period('cur', ps, pe, at_ts := at_ts)], min_days, week_days)
    WHERE is_grid_worker
),
d AS (
    SELECT account_id,
           count(*) FILTER (n_substantive = 0) AS login_only_days,
           count(*) FILTER (n_ops >= t['bunched_min_ops']
                            AND date_diff('second', first_op, last_op) <= t['bunched_minutes'] * 60) AS bunched_days
    FROM agg_aq_day SEMI JOIN acc USING (account_id)
    WHERE day >= CAST(ps AS DATE) AND day < CAST(pe AS DATE)
    GROUP BY ALL
),
fix AS (
    SELECT account_id, max(days) AS same_fix_days
    FROM (SELECT account_id, fix, count(*) AS days
          FROM agg_aq_day SEMI JOIN acc USING (account_id)
          WHERE day >= CAST(ps AS DATE) AND day < CAST(pe AS DATE) AND fix IS NOT NULL
          GROUP BY ALL)
    GROUP BY ALL
),
night AS (
    SELECT account_id, count(*) AS night_days, sum(n_patrol) AS night_ops
    FROM (SELECT account_id, day, sum(n_patrol) AS n_patrol, min(first_patrol) AS first_patrol,
                 max(last_patrol) AS last_patrol
          FROM agg_aq_hour SEMI JOIN acc USING (account_id)
          WHERE day >= CAST(ps AS DATE) AND day < CAST(pe AS DATE) AND n_patrol > 0
            AND hour >= t['night_start_hour'] AND hour < t['night_end_hour']
          GROUP BY ALL)
    WHERE n_patrol >= t['night_min_ops'] AND date_diff('second', first_patrol, last_patrol) <= t['night_burst_minutes'] * 60
    GROUP BY ALL
),
pts AS (
    SELECT account_id, count(*) AS patrol_points, count(*) FILTER (NOT inside) AS outside_points
    FROM agg_patrol_point SEMI JOIN acc USING (account_id)
    WHERE day >= CAST(ps AS DATE) AND day < CAST(pe AS DATE) AND inside IS NOT NULL
    GROUP BY ALL
),
ev AS (
    SELECT acc.*, coalesce(d.login_only_days, 0) AS login_only_days, coalesce(d.bunched_days, 0) AS bunched_days,
           coalesce(night.night_ops, 0) AS night_ops, coalesce(night.night_days, 0) AS night_days,
           coalesce(fix.same_fix_days, 0) AS same_fix_days, coalesce(pts.patrol_points, 0) AS patrol_points,
           coalesce(pts.outside_points, 0) AS outside_points,
           pts.outside_points / nullif(pts.patrol_points, 0) AS outside_share
    FROM acc LEFT JOIN d USING (account_id) LEFT JOIN fix USING (account_id) LEFT JOIN night USING (account_id)
    LEFT JOIN pts USING (account_id)
)
SELECT *,
       list_filter([CASE WHEN login_only_days >= t['login_only_days'] THEN 'login_only' END,
                    CASE WHEN bunched_days >= t['bunched_days'] THEN 'bunched' END,
                    CASE WHEN night_days >= t['night_days'] THEN 'night_batch' END,
                    CASE WHEN same_fix_days >= t['same_fix_days'] THEN 'same_gps' END,
                    CASE WHEN patrol_points >= t['outside_min_points'] AND outside_share >= t['outside_share']
                         THEN 'outside_grid' END], lambda s: s IS NOT NULL) AS signals
FROM ev;

-- The thresholds as one STRUCT (what m_activity_quality takes): the queries pass their $aq_… parameters.
CREATE MACRO m_aq_thresholds(login_only_days, bunched_minutes, bunched_min_ops, bunched_days, night_start_hour,
                             night_end_hour, night_burst_minutes, night_min_ops, night_days, same_fix_days,
                             outside_min_points, outside_share) AS
    {'login_only_days': CAST(login_only_days AS INTEGER), 'bunched_minutes': CAST(bunched_minutes AS DOUBLE),
     'bunched_min_ops': CAST(bunched_min_ops AS INTEGER), 'bunched_days': CAST(bunched_days AS INTEGER),
     'night_start_hour': CAST(night_start_hour AS INTEGER), 'night_end_hour': CAST(night_end_hour AS INTEGER),
     'night_burst_minutes': CAST(night_burst_minutes AS DOUBLE), 'night_min_ops': CAST(night_min_ops AS INTEGER),
     'night_days': CAST(night_days AS INTEGER), 'same_fix_days': CAST(same_fix_days AS INTEGER),
     'outside_min_points': CAST(outside_min_points AS INTEGER), 'outside_share': CAST(outside_share AS DOUBLE)};

-- ---------------------------------------------------------------------------------------------------- 巡查覆盖
-- One row per grid (every grid of dim_unit) for [ps, pe): the 巡查 of its own accounts (agg_patrol_point):
-- patrol_days (distinct days with a 巡查 point), patrol_points, inside_points and inside_share (points inside the
-- grid's polygon / points tested; NULL: no boundary or no point).
CREATE MACRO m_patrol_coverage(ps, pe) AS TABLE
WITH p AS (
    SELECT grid_code, count(DISTINCT day) AS patrol_days, count(*) AS patrol_points,
           count(*) FILTER (inside) AS inside_points, count(inside) AS tested_points
    FROM agg_patrol_point
    WHERE day >= CAST(ps AS DATE) AND day < CAST(pe AS DATE) AND grid_code IS NOT NULL
    GROUP BY ALL
)
SELECT u.unit_code AS grid_code, u.unit_name AS grid_name, u.community_code, u.community_name, u.township_code,
       u.township_name, u.ru_code, u.boundary, u.center_lon, u.center_lat,
       coalesce(p.patrol_days, 0) AS patrol_days, coalesce(p.patrol_points, 0) AS patrol_points,
       coalesce(p.inside_points, 0) AS inside_points, p.inside_points / nullif(p.tested_points, 0) AS inside_share
FROM dim_unit u LEFT JOIN p ON p.grid_code = u.unit_code
WHERE u.level = '网格';
