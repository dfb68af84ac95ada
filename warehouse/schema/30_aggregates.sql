-- Pre-aggregated tables the pages and the bulletin read instead of the 4-million-row activity fact.

-- Unknown code values (the rule, README "Unknown code values"): a record whose category is not in the contract's
-- code list (flag unknown_code:category, set by the normaliser) is counted in every total; in a breakdown by
-- category it is counted under this one label, never under its delivered value as if that were a category
-- (category_code keeps the delivered value; record lists show it).
CREATE MACRO m_unknown_category() AS '未知类别';
CREATE MACRO m_category(category, flags) AS
    CASE WHEN list_contains(flags, 'unknown_code:category') THEN m_unknown_category() ELSE category END;

-- 有效活跃度 (docs/metrics.md): the operations that are substantive work. An account-day with only 登录/其他 is
-- active for the official rate but not effective. The one place the list is written.
CREATE MACRO m_substantive_op(op_type) AS
    op_type IN ('巡查', '信息采集', '信息更新', '事件上报', '事件处置', '签收', '民情日志');

CREATE TABLE agg_account_day AS
SELECT account_id, op_date AS day,
       count(*) AS n_ops,
       count(*) FILTER (m_substantive_op(op_type)) AS n_substantive,
       count(*) FILTER (op_type = '登录') AS n_login,
       count(*) FILTER (op_type = '巡查') AS n_patrol,
       count(*) FILTER (op_type IN ('信息采集', '信息更新')) AS n_collect,
       count(*) FILTER (op_type = '事件上报') AS n_event_report,
       count(*) FILTER (op_type = '事件处置') AS n_event_handle,
       count(*) FILTER (op_type = '签收') AS n_sign,
       count(*) FILTER (op_type = '民情日志') AS n_diary
FROM fact_activity
GROUP BY ALL
ORDER BY day, account_id;

CREATE TABLE agg_account_month AS
SELECT account_id, CAST(date_trunc('month', day) AS DATE) AS month,
       count(*) AS active_days, sum(n_ops) AS n_ops, sum(n_login) AS n_login, sum(n_patrol) AS n_patrol,
       sum(n_collect) AS n_collect, sum(n_event_report) AS n_event_report, sum(n_sign) AS n_sign,
       sum(n_diary) AS n_diary, max(day) AS last_day,
       count(*) FILTER (n_substantive > 0) AS effective_days
FROM agg_account_day
GROUP BY ALL
ORDER BY month, account_id;

-- The columns of fact_event the metrics read, with the time each event ended (m_event_activity): closed_at, or
-- for an event whose status is 已办结/已关闭 without a closed_at, when that status was recorded (updated_at); and
-- its first 受理 step in the flow (accepted_at; the event funnel). Narrow (no text, flags or lineage), so the
-- per-period scans of the macros stay small.
CREATE TABLE agg_event AS
SELECT e.event_id, m_category(e.category, e._flags) AS category, e.category AS category_code, e.source, e.grid_code, e.township_code, e.community_code, e.ru_code, e.status,
       e.supervision, e.reported_at, e.deadline, e.closed_at, e.closed_on_time, e.hours_to_close, e.lon, e.lat,
       coalesce(e.closed_at, CASE WHEN e.status IN ('已办结', '已关闭') THEN e.updated_at END) AS ended_at,
       f.accepted_at
FROM fact_event e
LEFT JOIN (SELECT event_id, min(action_time) AS accepted_at FROM fact_event_flow WHERE action = '受理' GROUP BY ALL) f
       USING (event_id)
ORDER BY e.reported_at, e.event_id;

-- Sign-offs with the columns of their report the metrics read (m_kp_signoffs).
CREATE TABLE agg_kp_signoff AS
SELECT s.report_id, m_category(s.category, r._flags) AS category, s.reported_at, s.grid_code, s.township_code, r.community_code, s.ru_code,
       s.office_kind, s.office_name, s.signed_at, r.police_station, r.justice_office, r.health_center
FROM fact_kp_signoff s JOIN fact_kp_report r USING (report_id)
ORDER BY s.reported_at, s.report_id, s.office_kind;

-- Key-person reports with their sign-offs folded in (m_kp_reports): how many the report needs, and when each
-- was signed (NULL: not yet), so a period's "signed by its cut-off" is a filter on one row, not a join.
CREATE TABLE agg_kp_report AS
SELECT r.report_id, m_category(r.category, r._flags) AS category, r.category AS category_code, r.reported_at,
       r.grid_code, r.township_code, r.community_code, r.ru_code, r.police_station, r.justice_office, r.health_center,
       count(s.report_id) AS needed,
       -- the sign-off times in the order of their office kind (portable: sorted as (kind, time) pairs)
       coalesce(list_transform(list_sort(list({'k': s.office_kind, 'v': s.signed_at}) FILTER (s.report_id IS NOT NULL)),
                               lambda x: x.v), []) AS signed_ats
FROM fact_kp_report r LEFT JOIN fact_kp_signoff s USING (report_id)
GROUP BY ALL
ORDER BY r.reported_at, r.report_id;
