-- Metric definitions (docs/metrics.md), each written once, as table macros that the
-- queries in warehouse/sql call. They take a LIST of periods so that one definition serves a month, an ISO week,
-- a month with the previous one beside it (环比), or a series of months (trends, comparisons):
--
--     periods: [{'label': 'cur', 'ps': DATE start, 'pe': DATE end (exclusive)}, ...]   (m_period, m_cur_prev, m_months)
--
-- They read pre-aggregated, narrow tables (warehouse/schema/30_aggregates.sql: agg_account_month / agg_account_day,
-- never the 4-million-row fact_activity; agg_event; agg_kp_signoff, agg_kp_report; agg_collection_asof below) and
-- are kept to one or two joins each: a page runs a dozen queries that expand them, so their planning time counts
-- as much as their execution. No scope filtering here: every query filters its own rows by $scope_township /
-- $scope_office, where a reader can see it.

-- ---------------------------------------------------------------------------------------------------- periods
-- `at_ts` (a TIMESTAMP, NULL = the period's end): the time a period still running is measured at ("now"), so that
-- nothing is counted as of a future date (what is overdue; how many active days an account can have had).
CREATE MACRO m_period(label, ps, pe, at_ts := NULL) AS
    {'label': CAST(label AS VARCHAR), 'ps': CAST(ps AS DATE), 'pe': CAST(pe AS DATE), 'at_ts': CAST(at_ts AS TIMESTAMP)};

-- The period and the previous one, labelled 'cur' and 'prev' (`at_ts` for the current one; the previous is over).
CREATE MACRO m_cur_prev(ps, pe, prev_ps, prev_pe, at_ts := NULL) AS
    [m_period('cur', ps, pe, at_ts := at_ts), m_period('prev', prev_ps, prev_pe)];

-- The time a period is measured at: its end, or `at_ts` when that is earlier (a period still running).
CREATE MACRO m_asof(pe, at_ts) AS least(CAST(pe AS TIMESTAMP), coalesce(at_ts, CAST(pe AS TIMESTAMP)));

-- The `n` calendar months up to `pe` (exclusive), oldest first, labelled 'YYYY-MM'; the last one ends at `pe`
-- (a month still running is cut at `pe`).
CREATE MACRO m_months(pe, n) AS
    list_transform(range(CAST(n AS BIGINT) - 1, -1, -1),
        lambda i: m_period(strftime(date_trunc('month', CAST(pe AS DATE) - 1) - to_months(CAST(i AS INTEGER)), '%Y-%m'),
                           date_trunc('month', CAST(pe AS DATE) - 1) - to_months(CAST(i AS INTEGER)),
                           least(date_trunc('month', CAST(pe AS DATE) - 1) - to_months(CAST(i AS INTEGER) - 1),
                                 CAST(pe AS DATE))));

-- Active days an account needs in [ps, pe): `min_days` in a calendar month (28–31 days); `week_days` in a period
-- of 7 days or fewer (an ISO week; [metrics] week_active_days, days out of 7: its share of the days for a shorter
-- one); in any other period (a month still running) the share of its days that min_days is of a 28-day month.
-- Always rounded up. A period still running counts its days up to and including the day of `at_ts`.
CREATE MACRO m_days_measured(ps, pe, at_ts := NULL) AS
    date_diff('day', CAST(ps AS DATE), least(CAST(pe AS DATE), coalesce(CAST(at_ts AS DATE) + 1, CAST(pe AS DATE))));
CREATE MACRO m_active_min(min_days, week_days, ps, pe, at_ts := NULL) AS
    CASE WHEN date_diff('day', CAST(ps AS DATE), CAST(pe AS DATE)) <= 7
         THEN least(week_days, ceil(week_days * m_days_measured(ps, pe, at_ts := at_ts) / 7.0))
         ELSE least(min_days, ceil(min_days * m_days_measured(ps, pe, at_ts := at_ts) / 28.0)) END;

-- ---------------------------------------------------------------------------------------------------- 账号活跃度
-- One row per period and account counted in it. Counted: enabled at any time in the period, i.e. opened before
-- its end (no opening time: always open) and not closed before its start. An account is closed only when its
-- status is 停用; it closed at closed_at, or (no closed_at delivered) when that status was recorded (updated_at).
-- Active: operations (any op_type, login included) on at least m_active_min(min_days) distinct days of the period.
-- Accounts opened or closed mid-period are counted, and need the same number of active days.
-- 有效活跃度: effective_days counts only the days with a substantive operation (m_substantive_op: not 登录/其他
-- alone); `effective` = effective_days ≥ the same needed_days. Same counted accounts, same rule, other days.
CREATE MACRO m_account_activity(periods, min_days, week_days) AS TABLE
WITH p AS (SELECT unnest(periods, recursive := true)),
counted AS (
    SELECT p.label, p.ps, p.pe, p.at_ts, a.account_id, a.role, a.is_grid_worker, a.dept_kind, a.dept_name, a.status,
           a.opened_at, a.closed_at, a.unit_code, a.unit_level, a.township_code, a.community_code, a.ru_code
    FROM dim_account a CROSS JOIN p
    WHERE coalesce(a.opened_at, TIMESTAMP '1900-01-01') < p.pe
      AND (a.status IS DISTINCT FROM '停用' OR coalesce(a.closed_at, a.updated_at) >= p.ps)
),
days AS (
    -- a whole calendar month from agg_account_month (one row per account), any other period from agg_account_day
    SELECT p.label, m.account_id, m.active_days, m.n_ops, m.effective_days
    FROM agg_account_month m JOIN p ON m.month = p.ps
    WHERE p.ps = date_trunc('month', p.ps) AND p.pe = p.ps + INTERVAL 1 MONTH
    UNION ALL
    SELECT p.label, d.account_id, count(*) AS active_days, sum(d.n_ops) AS n_ops,
           count(*) FILTER (d.n_substantive > 0) AS effective_days
    FROM agg_account_day d JOIN p ON d.day >= p.ps AND d.day < p.pe
    WHERE NOT (p.ps = date_trunc('month', p.ps) AND p.pe = p.ps + INTERVAL 1 MONTH)
    GROUP BY ALL
)
SELECT c.label AS period, c.ps AS period_start, c.pe AS period_end, c.at_ts AS period_asof,
       c.* EXCLUDE (label, ps, pe, at_ts),
       coalesce(d.active_days, 0) AS active_days, coalesce(d.n_ops, 0) AS n_ops,
       m_active_min(min_days, week_days, c.ps, c.pe, at_ts := c.at_ts) AS needed_days,
       coalesce(d.active_days, 0) >= m_active_min(min_days, week_days, c.ps, c.pe, at_ts := c.at_ts) AS active,
       coalesce(d.effective_days, 0) AS effective_days,
       coalesce(d.effective_days, 0) >= m_active_min(min_days, week_days, c.ps, c.pe, at_ts := c.at_ts) AS effective
FROM counted c LEFT JOIN days d ON d.label = c.label AND d.account_id = c.account_id;

-- 账号活跃度 of a group of accounts: active accounts / counted accounts (rows of m_account_activity); no counted
-- account: NULL (shown "—", in no list). The one place the rate is written; every query rolls it up with this.
CREATE MACRO m_activity_rate(active, accounts) AS active / nullif(accounts, 0);
-- 事件办结完成率: events closed in the period (whenever reported) / reported in it; can exceed 100%.
CREATE MACRO m_completion_rate(closed, reported) AS closed / nullif(reported, 0);
-- 按期办结率: closed on or before the deadline / closed.
CREATE MACRO m_on_time_rate(closed_on_time, closed) AS closed_on_time / nullif(closed, 0);
-- 签收率: sign-offs signed by the cut-off / sign-offs needed (one per office a report went to).
CREATE MACRO m_sign_rate(signed, needed) AS signed / nullif(needed, 0);
-- 全部签收占比: key-person reports signed by every office they went to / reports (签收相对较好 compares it).
CREATE MACRO m_fully_signed_rate(fully_signed, reported) AS fully_signed / nullif(reported, 0);
-- 采集率: households collected / registered households (grids with registered households).
CREATE MACRO m_collection_rate(collected, households) AS collected / nullif(households, 0);

-- ---------------------------------------------------------------------------------------------------- 事件
-- One row per period and event that matters to it: reported in it, closed in it, or open at its end.
--   reported        reported_at in the period                       (事件办结完成率 denominator)
--   closed          closed_at in the period, whenever reported      (numerator; so the rate can exceed 100%)
--   closed_on_time  closed in the period on or before its deadline  (按期办结率 numerator; no deadline: not on time)
--   open_at_end     reported before the end and not ended before it. An event ends at closed_at; one whose
--                   status is 已办结/已关闭 without a closed_at ended when that status was recorded (updated_at).
--   overdue_open    open at the end with its deadline passed by then (超期未办结); a period still running: by its
--                   `at_ts` (now), not by its future end
--   accepted_at     the time of its first 受理 step in the event flow (NULL: none)
CREATE MACRO m_event_activity(periods) AS TABLE
SELECT p.label AS period, p.ps AS period_start, p.pe AS period_end,
       e.event_id, e.category, e.source, e.grid_code, e.township_code, e.community_code, e.ru_code, e.status,
       e.supervision, e.reported_at, e.deadline, e.closed_at, e.hours_to_close, e.lon, e.lat,
       e.reported_at >= p.ps AND e.reported_at < p.pe AS reported,
       coalesce(e.closed_at >= p.ps AND e.closed_at < p.pe, FALSE) AS closed,
       coalesce(e.closed_at >= p.ps AND e.closed_at < p.pe, FALSE) AND e.closed_on_time AS closed_on_time,
       e.reported_at < p.pe AND NOT coalesce(e.ended_at < p.pe, FALSE) AS open_at_end,
       e.reported_at < p.pe AND NOT coalesce(e.ended_at < p.pe, FALSE) AND coalesce(e.deadline < m_asof(p.pe, p.at_ts), FALSE)
           AS overdue_open,
       e.accepted_at
FROM agg_event e
JOIN (SELECT unnest(periods, recursive := true)) p
  ON (e.reported_at >= p.ps AND e.reported_at < p.pe)
  OR (e.closed_at >= p.ps AND e.closed_at < p.pe)
  OR (e.reported_at < p.pe AND (e.ended_at IS NULL OR e.ended_at >= p.pe));

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
SELECT p.label AS period, p.ps AS period_start, p.pe AS period_end,
       s.report_id, s.category, s.reported_at, s.grid_code, s.township_code, s.community_code, s.ru_code,
       s.office_kind, s.office_name, s.signed_at,
       coalesce(s.signed_at < CAST(p.pe AS TIMESTAMP) + grace, FALSE) AS signed,
       s.police_station, s.justice_office, s.health_center
FROM agg_kp_signoff s
JOIN (SELECT unnest(periods, recursive := true)) p ON s.reported_at >= p.ps AND s.reported_at < p.pe;

-- One row per period and key-person report reported in it (报送数), with its sign-offs by the cut-off:
-- needed (1, or 2 for 严重精神障碍患者), signed, and fully_signed = signed by every office it went to
-- (the 签收相对较好 rule). A category no office is configured for needs none: fully_signed is NULL.
-- Same counting as m_kp_signoffs: agg_kp_report holds each report's sign-off times (signed_ats).
CREATE MACRO m_kp_reports(periods, grace) AS TABLE
SELECT period, period_start, period_end, report_id, category, reported_at, grid_code, township_code, community_code,
       ru_code, police_station, justice_office, health_center, needed, signed,
       CASE WHEN needed > 0 THEN signed = needed END AS fully_signed
FROM (
    SELECT p.label AS period, p.ps AS period_start, p.pe AS period_end,
           r.report_id, r.category, r.reported_at, r.grid_code, r.township_code, r.community_code, r.ru_code,
           r.police_station, r.justice_office, r.health_center, r.needed,
           CAST(len(list_filter(r.signed_ats, lambda t: t < CAST(p.pe AS TIMESTAMP) + grace)) AS BIGINT) AS signed
    FROM agg_kp_report r
    JOIN (SELECT unnest(periods, recursive := true)) p ON r.reported_at >= p.ps AND r.reported_at < p.pe
);

-- The 三项重点工作 counts of every period × 乡镇 × reporting unit × category: the one roll-up of the key-person
-- reports that every kp query, the headline and m_unit_figures read (they sum its rows over what they do not show).
--   reported, fully_signed   reports reported in the period (报送数), and of them signed by every office they went to
--   needed, signed           sign-offs the reports need and got by the period's end + `grace` (严重精神障碍患者: two)
-- `scope_office` (NULL: every office): a 部门用户 counts the reports addressed to its office, and only the office's
-- own sign-offs. Units and categories with nothing: no row (the caller's dimension join gives the zeros).
CREATE MACRO m_kp_counts(periods, grace, scope_office) AS TABLE
SELECT period, township_code, ru_code, category,
       CAST(sum(reported) AS BIGINT) AS reported, CAST(sum(fully_signed) AS BIGINT) AS fully_signed,
       CAST(sum(needed) AS BIGINT) AS needed, CAST(sum(signed) AS BIGINT) AS signed
FROM (
    SELECT period, township_code, ru_code, category, 1 AS reported, CAST(fully_signed IS TRUE AS INTEGER) AS fully_signed,
           0 AS needed, 0 AS signed
    FROM m_kp_reports(periods, grace)
    WHERE scope_office IS NULL OR police_station = scope_office OR justice_office = scope_office
          OR health_center = scope_office
    UNION ALL
    SELECT period, township_code, ru_code, category, 0, 0, 1, CAST(signed AS INTEGER)
    FROM m_kp_signoffs(periods, grace)
    WHERE scope_office IS NULL OR office_name = scope_office
)
GROUP BY ALL;

-- The key-person categories in the contract's order (core.spec.KP_CATEGORIES, written by warehouse/build.py into
-- cfg_kp_category): 1…5; anything else (未知类别) 99, last.
CREATE MACRO m_category_order(cat) AS
    coalesce(list_position((SELECT list(category ORDER BY category_order) FROM cfg_kp_category), cat), 99);
-- The event categories in the contract's order (core.spec.EVENT_CATEGORIES → cfg_event_category); else 99.
CREATE MACRO m_event_category_order(cat) AS
    coalesce(list_position((SELECT list(category ORDER BY category_order) FROM cfg_event_category), cat), 99);

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

-- Each grid's figures as of the end of every month from its first statistics on to the last month held: every
-- column is its latest non-empty value up to that month (what arg_max over all the rows before the month's end
-- gives), so a period reads one row per grid (month_end = the start of the month its end falls in; after the last
-- month held, the last row: is_last) instead of every month before it.
CREATE TABLE agg_collection_asof AS
WITH bounds AS (SELECT min(month) AS first_month, max(month) AS last_month FROM agg_collection_month),
grid_months AS (
    SELECT g.grid_code, CAST(m.month AS DATE) AS month
    FROM (SELECT grid_code, min(month) AS first_month FROM agg_collection_month GROUP BY ALL) g
    JOIN (SELECT unnest(generate_series(CAST(first_month AS TIMESTAMP), CAST(last_month AS TIMESTAMP),
                                        INTERVAL 1 MONTH)) AS month FROM bounds) m ON m.month >= g.first_month
)
SELECT gm.grid_code, gm.month, CAST(gm.month + INTERVAL 1 MONTH AS DATE) AS month_end,
       gm.month = (SELECT last_month FROM bounds) AS is_last,
       last_value(a.stat_date IGNORE NULLS) OVER w AS stat_date,
       last_value(a.collected IGNORE NULLS) OVER w AS collected, last_value(a.persons IGNORE NULLS) OVER w AS persons,
       last_value(a.floating IGNORE NULLS) OVER w AS floating, last_value(a.houses IGNORE NULLS) OVER w AS houses,
       last_value(a.rentals IGNORE NULLS) OVER w AS rentals, last_value(a.key_places IGNORE NULLS) OVER w AS key_places
FROM grid_months gm LEFT JOIN agg_collection_month a USING (grid_code, month)
WINDOW w AS (PARTITION BY gm.grid_code ORDER BY gm.month ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY gm.grid_code, gm.month;

-- One row per period and grid (网格 of org_units): registered households, and households_collected on the
-- last statistics day before the period's end (cumulative counts; a grid with no statistics yet: 0); each other
-- count likewise its latest delivered value. Whole months before the end come from agg_collection_asof; the days
-- of a month cut by the end (a week, a month still running), from the fact, and win when they hold a value.
CREATE MACRO m_collection(periods) AS TABLE
WITH p AS (SELECT unnest(periods, recursive := true)),
gp AS (
    SELECT p.label, p.ps, p.pe, unit_code AS grid_code, unit_name AS grid_name, township_code, community_code,
           community_name, ru_code, households
    FROM dim_unit CROSS JOIN p WHERE level = '网格'
),
cut AS (
    SELECT p.label, c.grid_code, max(c.stat_date) AS stat_date,
           arg_max(c.households_collected, c.stat_date) AS collected,
           arg_max(c.persons, c.stat_date) AS persons, arg_max(c.floating, c.stat_date) AS floating,
           arg_max(c.houses, c.stat_date) AS houses, arg_max(c.rentals, c.stat_date) AS rentals,
           arg_max(c.key_places, c.stat_date) AS key_places
    FROM fact_collection c JOIN p ON c.stat_date >= date_trunc('month', p.pe) AND c.stat_date < p.pe
    WHERE p.pe > date_trunc('month', p.pe)  -- only a period ending inside a month reads the fact (skips the scan)
    GROUP BY ALL
)
SELECT gp.label AS period, gp.ps AS period_start, gp.pe AS period_end, gp.grid_code, gp.grid_name, gp.township_code,
       gp.community_code, gp.community_name, gp.ru_code, gp.households,
       coalesce(x.collected, a.collected, 0) AS collected, coalesce(x.stat_date, a.stat_date) AS stat_date,
       coalesce(x.persons, a.persons) AS persons, coalesce(x.floating, a.floating) AS floating,
       coalesce(x.houses, a.houses) AS houses, coalesce(x.rentals, a.rentals) AS rentals,
       coalesce(x.key_places, a.key_places) AS key_places
FROM gp
LEFT JOIN agg_collection_asof a
       ON a.grid_code = gp.grid_code
      AND (a.month_end = date_trunc('month', gp.pe) OR (a.is_last AND a.month_end < date_trunc('month', gp.pe)))
LEFT JOIN cut x ON x.label = gp.label AND x.grid_code = gp.grid_code;

-- ---------------------------------------------------------------------------------------------------- per unit
-- The five headline figures of every reporting unit, one row per period and unit (every unit, zeros included):
-- the one roll-up the overview, the rankings and the comparison read (a rate with nothing to divide: NULL, "—").
--   accounts, active, activity_rate                 grid-worker accounts (m_account_activity, m_activity_rate)
--   events_reported, events_closed, closed_on_time, completion_rate (closed / reported: may exceed 100%),
--   on_time_rate (closed on time / closed), overdue_open, yellow_cards, red_cards          (m_event_activity)
--   kp_reports, kp_fully_signed, fully_signed_rate  key-person reports signed by every office   (m_kp_counts)
--   signoffs_needed, signoffs_signed, sign_rate     sign-offs by the cut-off, `grace`
--   households, collected, collection_rate          as of the period's end (m_collection)
-- `scope_office` (NULL: every office): a 部门用户 counts only the reports addressed to its office. No 乡镇 scope
-- here: ranks are over the whole county; a query filters its rows by unit.
CREATE MACRO m_unit_figures(periods, min_days, week_days, grace, scope_office) AS TABLE
WITH p AS (SELECT unnest(periods, recursive := true)),
a AS (
    SELECT period, ru_code, count(*) AS accounts, count(*) FILTER (active) AS active
    FROM m_account_activity(periods, min_days, week_days)
    WHERE is_grid_worker GROUP BY ALL
),
e AS (
    SELECT period, ru_code, count(*) FILTER (reported) AS events_reported, count(*) FILTER (closed) AS events_closed,
           count(*) FILTER (closed_on_time) AS closed_on_time, count(*) FILTER (overdue_open) AS overdue_open,
           count(*) FILTER (supervision = '黄牌') AS yellow_cards, count(*) FILTER (supervision = '红牌') AS red_cards
    FROM m_event_activity(periods)
    GROUP BY ALL
),
k AS (
    SELECT period, ru_code, CAST(sum(reported) AS BIGINT) AS kp_reports,
           CAST(sum(fully_signed) AS BIGINT) AS kp_fully_signed,
           CAST(sum(needed) AS BIGINT) AS signoffs_needed, CAST(sum(signed) AS BIGINT) AS signoffs_signed
    FROM m_kp_counts(periods, grace, scope_office)
    GROUP BY ALL
),
c AS (
    SELECT period, ru_code, sum(households) AS households, sum(collected) FILTER (households > 0) AS collected
    FROM m_collection(periods)
    GROUP BY ALL
)
SELECT p.label AS period, r.ru_code,
       coalesce(a.accounts, 0) AS accounts, coalesce(a.active, 0) AS active,
       m_activity_rate(a.active, a.accounts) AS activity_rate,
       coalesce(e.events_reported, 0) AS events_reported, coalesce(e.events_closed, 0) AS events_closed,
       coalesce(e.closed_on_time, 0) AS closed_on_time,
       m_completion_rate(e.events_closed, e.events_reported) AS completion_rate,
       m_on_time_rate(e.closed_on_time, e.events_closed) AS on_time_rate,
       coalesce(e.overdue_open, 0) AS overdue_open, coalesce(e.yellow_cards, 0) AS yellow_cards,
       coalesce(e.red_cards, 0) AS red_cards,
       coalesce(k.kp_reports, 0) AS kp_reports, coalesce(k.kp_fully_signed, 0) AS kp_fully_signed,
       m_fully_signed_rate(k.kp_fully_signed, k.kp_reports) AS fully_signed_rate,
       coalesce(k.signoffs_needed, 0) AS signoffs_needed, coalesce(k.signoffs_signed, 0) AS signoffs_signed,
       m_sign_rate(k.signoffs_signed, k.signoffs_needed) AS sign_rate,
       coalesce(c.households, 0) AS households, coalesce(c.collected, 0) AS collected,
       m_collection_rate(c.collected, c.households) AS collection_rate
FROM dim_reporting_unit r CROSS JOIN p
LEFT JOIN a ON a.period = p.label AND a.ru_code = r.ru_code
LEFT JOIN e ON e.period = p.label AND e.ru_code = r.ru_code
LEFT JOIN k ON k.period = p.label AND k.ru_code = r.ru_code
LEFT JOIN c ON c.period = p.label AND c.ru_code = r.ru_code;

-- ---------------------------------------------------------------------------------------------------- 上期
-- A period ending at `pe` is before the data: it ends on or before `first_day`, the first day of data (the query
-- passes meta's data_first_day; none recorded: it is not). Its zeros are not figures: a previous period before the
-- data gives no score, value or rank to compare with (no 上期名次, no 名次变化) — the rule of the headlines' 环比,
-- dashboard.ui.without_unknown_prev.
CREATE MACRO m_before_data(pe, first_day) AS coalesce(CAST(pe AS DATE) <= CAST(first_day AS DATE), FALSE);

-- ---------------------------------------------------------------------------------------------------- 红黑榜
-- The composite score (docs/metrics.md "红黑榜"): the mean of the unit's defined figures among the 账号活跃度, the
-- 事件办结完成率 capped at 100% and the 全部签收占比 (fully_signed_rate); NULL when none is defined.
CREATE MACRO m_score(activity_rate, completion_rate, fully_signed_rate) AS
    list_avg([activity_rate, CASE WHEN completion_rate > 1 THEN 1.0 ELSE completion_rate END, fully_signed_rate]);
-- Red: among the `size` best scores (rank, ties at the boundary included) and above the lowest score. Black: among
-- the `size` worst (rank_worst), below the highest, and not red. `lowest`/`highest`: the period's extreme scores.
CREATE MACRO m_red(rank, score, lowest, size) AS coalesce(rank <= size AND score > lowest, FALSE);
CREATE MACRO m_black(rank, rank_worst, score, lowest, highest, size) AS
    coalesce(rank_worst <= size AND score < highest AND NOT (rank <= size AND score > lowest), FALSE);

-- ---------------------------------------------------------------------------------------------------- offices
-- The department offices' kinds (派出所, 司法所, 卫生院) in the county's order: 1, 2, 3 (NULL: not an office kind).
-- The kinds come from core.spec.OFFICE_KINDS, written by warehouse/build.py into cfg_office_kind; no query names them.
CREATE MACRO m_office_order(kind) AS
    list_position((SELECT list(office_kind ORDER BY kind_order) FROM cfg_office_kind), kind);

-- ---------------------------------------------------------------------------------------------------- labels
-- A threshold as the bulletin writes it: 1.0 → '100%', 0.5 → '50%', 0.857 → '85.7%'.
CREATE MACRO m_pct_label(x) AS regexp_replace(printf('%.1f', x * 100), '\.0$', '') || '%';
