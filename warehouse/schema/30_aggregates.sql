-- Pre-aggregated tables the pages and the bulletin read instead of the 4-million-row activity fact.

CREATE TABLE agg_account_day AS
SELECT account_id, op_date AS day,
       count(*) AS n_ops,
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
       sum(n_diary) AS n_diary, max(day) AS last_day
FROM agg_account_day
GROUP BY ALL
ORDER BY month, account_id;
