-- Metric definitions (shared/domain.md, "Metric definitions"), each written once, as table macros that the
-- queries in warehouse/sql call. They take a LIST of periods so that one definition serves a month, an ISO week,
-- a month with the previous one beside it (环比), or a series of months (trends, comparisons):
--
--     periods: [{'label': 'cur', 'ps': DATE start, 'pe': DATE end (exclusive)}, ...]   (m_period, m_cur_prev, m_months)
--
-- They read the pre-aggregated agg_account_day (never the 4-million-row fact_activity). No scope filtering here:
-- every query filters its own rows by $scope_township / $scope_office, where a reader can see it.

-- ---------------------------------------------------------------------------------------------------- periods
CREATE MACRO m_period(label, ps, pe) AS {'label': CAST(label AS VARCHAR), 'ps': CAST(ps AS DATE), 'pe': CAST(pe AS DATE)};

-- The period and the previous one, labelled 'cur' and 'prev'.
CREATE MACRO m_cur_prev(ps, pe, prev_ps, prev_pe) AS [m_period('cur', ps, pe), m_period('prev', prev_ps, prev_pe)];

-- The `n` calendar months up to `pe` (exclusive), oldest first, labelled 'YYYY-MM'; the last one ends at `pe`
-- (a month still running is cut at `pe`).
CREATE MACRO m_months(pe, n) AS
    list_transform(range(CAST(n AS BIGINT) - 1, -1, -1),
        lambda i: m_period(strftime(date_trunc('month', CAST(pe AS DATE) - 1) - to_months(CAST(i AS INTEGER)), '%Y-%m'),
                           date_trunc('month', CAST(pe AS DATE) - 1) - to_months(CAST(i AS INTEGER)),
                           least(date_trunc('month', CAST(pe AS DATE) - 1) - to_months(CAST(i AS INTEGER) - 1),
                                 CAST(pe AS DATE))));

-- Active days an account needs in [ps, pe): `min_days` in a calendar month (28–31 days); in a shorter period
-- (an ISO week, a month still running) the same share of its days as min_days of a 28-day month, rounded up
-- (a week: ⌈20 × 7 / 28⌉ = 5 days).
CREATE MACRO m_active_min(min_days, ps, pe) AS
    least(min_days, ceil(min_days * date_diff('day', CAST(ps AS DATE), CAST(pe AS DATE)) / 28.0));

-- ---------------------------------------------------------------------------------------------------- 账号活跃度
-- One row per period and account counted in it. Counted: enabled at any time in the period, i.e. opened before
-- its end (no opening time: always open) and not closed before its start. An account is closed only when its
-- status is 停用; it closed at closed_at, or (no closed_at delivered) when that status was recorded (updated_at).
-- Active: operations (any op_type, login included) on at least m_active_min(min_days) distinct days of the period.
-- Accounts opened or closed mid-period are counted, and need the same number of active days.
CREATE MACRO m_account_activity(periods, min_days) AS TABLE
WITH p AS (SELECT unnest(periods, recursive := true)),
counted AS (
    SELECT p.label, p.ps, p.pe, a.account_id, a.role, a.is_grid_worker, a.dept_kind, a.dept_name, a.status,
           a.opened_at, a.closed_at, a.unit_code, a.unit_level, a.township_code, a.community_code, a.ru_code
    FROM dim_account a CROSS JOIN p
    WHERE coalesce(a.opened_at, TIMESTAMP '1900-01-01') < p.pe
      AND (a.status IS DISTINCT FROM '停用' OR coalesce(a.closed_at, a.updated_at) >= p.ps)
),
days AS (
    SELECT p.label, d.account_id, count(*) AS active_days, sum(d.n_ops) AS n_ops
    FROM agg_account_day d JOIN p ON d.day >= p.ps AND d.day < p.pe
    GROUP BY ALL
)
SELECT c.label AS period, c.ps AS period_start, c.pe AS period_end, c.* EXCLUDE (label, ps, pe),
       coalesce(d.active_days, 0) AS active_days, coalesce(d.n_ops, 0) AS n_ops,
       coalesce(d.active_days, 0) >= m_active_min(min_days, c.ps, c.pe) AS active
FROM counted c LEFT JOIN days d ON d.label = c.label AND d.account_id = c.account_id;

-- ---------------------------------------------------------------------------------------------------- 事件
-- One row per period and event that matters to it: reported in it, closed in it, or open at its end.
--   reported        reported_at in the period                       (事件办结完成率 denominator)
--   closed          closed_at in the period, whenever reported      (numerator; so the rate can exceed 100%)
--   closed_on_time  closed in the period on or before its deadline  (按期办结率 numerator; no deadline: not on time)
--   open_at_end     reported before the end and not ended before it. An event ends at closed_at; one whose
--                   status is 已办结/已关闭 without a closed_at ended when that status was recorded (updated_at).
--   overdue_open    open at the end with its deadline passed by then (超期未办结)
CREATE MACRO m_event_activity(periods) AS TABLE
WITH p AS (SELECT unnest(periods, recursive := true)),
e AS (
    SELECT *, coalesce(closed_at, CASE WHEN status IN ('已办结', '已关闭') THEN updated_at END) AS ended_at
    FROM fact_event
),
flags AS (
    SELECT p.label, p.ps, p.pe, e.*,
           e.reported_at >= p.ps AND e.reported_at < p.pe AS reported,
           coalesce(e.closed_at >= p.ps AND e.closed_at < p.pe, FALSE) AS closed,
           e.reported_at < p.pe AND NOT coalesce(e.ended_at < p.pe, FALSE) AS open_at_end
    FROM e JOIN p ON (e.reported_at >= p.ps AND e.reported_at < p.pe)
                  OR (e.closed_at >= p.ps AND e.closed_at < p.pe)
                  OR (e.reported_at < p.pe AND (e.ended_at IS NULL OR e.ended_at >= p.pe))
)
SELECT label AS period, ps AS period_start, pe AS period_end,
       event_id, category, source, grid_code, township_code, community_code, ru_code, status, supervision,
       reported_at, deadline, closed_at, hours_to_close, lon, lat,
       reported, closed, closed AND closed_on_time AS closed_on_time, open_at_end,
       open_at_end AND coalesce(deadline < pe, FALSE) AS overdue_open
FROM flags;

-- ---------------------------------------------------------------------------------------------------- 三项重点工作
-- The grace a sign-off gets after each period's end: the bulletin's cut-off `cutoff` (a TIMESTAMP; NULL = the
-- end of the period itself) minus the end `pe` of the period it is given for. The previous period (环比) gets the
-- same grace after its own end, so both months are measured alike.
CREATE MACRO m_grace(cutoff, pe) AS
    coalesce(CAST(cutoff AS TIMESTAMP) - CAST(pe AS TIMESTAMP), INTERVAL 0 SECOND);

-- Sign-offs (签收) of the key-person reports reported in each period: one row per office a report went to
-- (严重精神障碍患者: two rows, 派出所 and 卫生院, counted separately). Signed: signed before the period's end plus
-- `grace` (an INTERVAL, see m_grace; the bulletin's cut-off). A report without the office named is a sign-off
-- nobody can make: it counts as needed and unsigned.
CREATE MACRO m_kp_signoffs(periods, grace) AS TABLE
WITH p AS (SELECT unnest(periods, recursive := true))
SELECT p.label AS period, p.ps AS period_start, p.pe AS period_end,
       s.report_id, s.category, s.reported_at, s.grid_code, s.township_code, r.community_code, s.ru_code,
       s.office_kind, s.office_name, s.signed_at,
       coalesce(s.signed_at < CAST(p.pe AS TIMESTAMP) + grace, FALSE) AS signed,
       r.police_station, r.justice_office, r.health_center
FROM fact_kp_signoff s
JOIN p ON s.reported_at >= p.ps AND s.reported_at < p.pe
JOIN fact_kp_report r USING (report_id);

-- One row per period and key-person report reported in it (报送数), with its sign-offs by the cut-off:
-- needed (1, or 2 for 严重精神障碍患者), signed, and fully_signed = signed by every office it went to
-- (the 签收相对较好 rule). A category no office is configured for needs none: fully_signed is NULL.
CREATE MACRO m_kp_reports(periods, grace) AS TABLE
WITH p AS (SELECT unnest(periods, recursive := true)),
r AS (
    SELECT p.label, p.ps, p.pe, k.*
    FROM fact_kp_report k JOIN p ON k.reported_at >= p.ps AND k.reported_at < p.pe
),
s AS (
    SELECT period, report_id, count(*) AS needed, count(*) FILTER (signed) AS signed
    FROM m_kp_signoffs(periods, grace) GROUP BY ALL
)
SELECT r.label AS period, r.ps AS period_start, r.pe AS period_end,
       r.report_id, r.category, r.reported_at, r.grid_code, r.township_code, r.community_code, r.ru_code,
       r.police_station, r.justice_office, r.health_center,
       coalesce(s.needed, 0) AS needed, coalesce(s.signed, 0) AS signed,
       CASE WHEN s.needed > 0 THEN s.signed = s.needed END AS fully_signed
FROM r LEFT JOIN s ON s.period = r.label AND s.report_id = r.report_id;

-- ---------------------------------------------------------------------------------------------------- 采集率
-- Pre-aggregated: each grid's last statistics day of each month (collection statistics are cumulative, so the
-- latest row before a period's end is all a period needs).
CREATE TABLE agg_collection_month AS
SELECT grid_code, CAST(date_trunc('month', stat_date) AS DATE) AS month, max(stat_date) AS stat_date,
       arg_max(households_collected, stat_date) AS collected, arg_max(persons, stat_date) AS persons,
       arg_max(floating, stat_date) AS floating, arg_max(houses, stat_date) AS houses,
       arg_max(rentals, stat_date) AS rentals, arg_max(key_places, stat_date) AS key_places
FROM fact_collection
WHERE stat_date IS NOT NULL
GROUP BY ALL
ORDER BY month, grid_code;

-- One row per period and grid (网格 of org_units): registered households, and households_collected on the
-- last statistics day before the period's end (cumulative counts; a grid with no statistics yet: 0).
-- Whole months before the end come from agg_collection_month; the days of a month cut by the end, from the fact.
CREATE MACRO m_collection(periods) AS TABLE
WITH p AS (SELECT unnest(periods, recursive := true)),
g AS (
    SELECT unit_code AS grid_code, unit_name AS grid_name, township_code, community_code, community_name, ru_code,
           households
    FROM dim_unit WHERE level = '网格'
),
candidates AS (
    SELECT p.label, a.grid_code, a.stat_date, a.collected, a.persons, a.floating, a.houses, a.rentals, a.key_places
    FROM agg_collection_month a JOIN p ON a.month + INTERVAL 1 MONTH <= p.pe
    UNION ALL
    SELECT p.label, c.grid_code, c.stat_date, c.households_collected, c.persons, c.floating, c.houses, c.rentals,
           c.key_places
    FROM fact_collection c JOIN p ON c.stat_date >= date_trunc('month', p.pe) AND c.stat_date < p.pe
),
latest AS (
    SELECT label, grid_code, max(stat_date) AS stat_date,
           arg_max(collected, stat_date) AS collected,
           arg_max(persons, stat_date) AS persons, arg_max(floating, stat_date) AS floating,
           arg_max(houses, stat_date) AS houses, arg_max(rentals, stat_date) AS rentals,
           arg_max(key_places, stat_date) AS key_places
    FROM candidates
    GROUP BY ALL
)
SELECT p.label AS period, p.ps AS period_start, p.pe AS period_end, g.*,
       coalesce(l.collected, 0) AS collected, l.stat_date, l.persons, l.floating, l.houses, l.rentals, l.key_places
FROM g CROSS JOIN p
LEFT JOIN latest l ON l.label = p.label AND l.grid_code = g.grid_code;

-- ---------------------------------------------------------------------------------------------------- labels
-- A threshold as the bulletin writes it: 1.0 → '100%', 0.5 → '50%', 0.857 → '85.7%'.
CREATE MACRO m_pct_label(x) AS regexp_replace(printf('%.1f', x * 100), '\.0$', '') || '%';
