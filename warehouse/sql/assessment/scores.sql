-- 季度考核 / 年度总评: the 100-point score of every reporting unit for [$start, $end) (a quarter) and for the
-- previous period [$prev_start, $prev_end) (the quarter before: 名次变化), docs/metrics.md "季度考核".
--
-- Figures: m_unit_figures (warehouse/schema/50_metrics.sql) for each calendar month of each period (the same
-- macro and rates as the monthly figures), summed over the months and rolled up with the same rate macros:
--   activity    m_activity_rate(Σ active account-months, Σ counted account-months)  grid-worker accounts
--   effective   有效活跃度: Σ effective active / Σ counted account-months from $effective (NULL: not connected)
--   completion  m_completion_rate(Σ closed, Σ reported)      on_time  m_on_time_rate(Σ closed on time, Σ closed)
--   sign        m_sign_rate(Σ signed, Σ needed)  (sign-offs of each month's reports, signed by the month's end
--               plus the grace of $cutoff after the period's end, m_grace)
--   collection  m_collection_rate(collected, households) as of the period's end (a stock: the last month's row)
--   supervision 督办答复率: answered / issued from $supervision (督办单 issued to the unit in the period)
-- $effective, $supervision: LIST of STRUCT(period 'cur'|'prev', ru_code, num, den), computed by
-- warehouse/assessment.py; NULL = the source is not connected.
--
-- Score: each indicator earns its weight ($w_<key>, [assessment] weights, summing to 100) × its rate capped at
-- 100%. An indicator without a base for a unit (nothing to divide: no accounts, no events, no closed events, no
-- sign-offs, no registered households, or the source not connected) gives its weight to the unit's other
-- indicators in proportion (the weights that count are rescaled to 100); 督办答复率 without any 督办 issued earns
-- full marks. No indicator with a base (督办 aside): no score (NULL), unranked.
--   score_<key>   the points the indicator earned (rescaled weight × capped rate); NULL when redistributed
--   weight_<key>  the rescaled weight it counted with (0 when redistributed)
--   score         Σ score_<key>, 0–100          rank  by score, best first, over the whole county (ties share)
--   grade         '优秀' score ≥ $reward_score (奖励名单) · '达标' ≥ $pass_score · '不达标' below (问责名单)
--   prev_*        the same for the previous period; movement = prev_rank − rank (positive: moved up)
WITH monthly AS (
    SELECT split_part(f.period, '|', 1) AS period, split_part(f.period, '|', 2) AS month, f.*  EXCLUDE (period)
    FROM m_unit_figures(
        -- every month of both periods, labelled 'cur|YYYY-MM' / 'prev|YYYY-MM'
        list_concat(
        list_transform(list_filter(m_months($end, date_diff('month', CAST($start AS DATE), CAST($end AS DATE))),
                                   lambda m: $period_asof IS NULL OR m.ps <= CAST($period_asof AS DATE)),
                       lambda m: m_period('cur|' || m.label, m.ps, m.pe, at_ts := $period_asof)),
        list_transform(m_months($prev_end, date_diff('month', CAST($prev_start AS DATE), CAST($prev_end AS DATE))),
                       lambda m: m_period('prev|' || m.label, m.ps, m.pe))),
        $min_active_days, $week_active_days, m_grace($cutoff, $end),
                        $scope_office) f
),
summed AS (
    SELECT period, ru_code, count(*) AS months,
           sum(accounts) AS account_months, sum(active) AS active_months,
           sum(events_reported) AS events_reported, sum(events_closed) AS events_closed,
           sum(closed_on_time) AS closed_on_time, sum(signoffs_needed) AS signoffs_needed,
           sum(signoffs_signed) AS signoffs_signed,
           arg_max(households, month) AS households, arg_max(collected, month) AS collected
    FROM monthly GROUP BY ALL
),
ext AS (
    SELECT 'effective' AS kind, * FROM (SELECT unnest(CAST($effective AS STRUCT(period VARCHAR, ru_code VARCHAR,
                                                      num DOUBLE, den DOUBLE)[]), recursive := true))
    UNION ALL
    SELECT 'supervision' AS kind, * FROM (SELECT unnest(CAST($supervision AS STRUCT(period VARCHAR, ru_code VARCHAR,
                                                        num DOUBLE, den DOUBLE)[]), recursive := true))
),
ext_sum AS (
    SELECT kind, period, ru_code, sum(num) AS num, sum(den) AS den FROM ext GROUP BY ALL
),
rates AS (
    SELECT s.*,
           m_activity_rate(s.active_months, s.account_months) AS activity_rate,
           e.num AS effective_active_months, e.den AS effective_account_months,
           m_activity_rate(e.num, e.den) AS effective_rate,
           m_completion_rate(s.events_closed, s.events_reported) AS completion_rate,
           m_on_time_rate(s.closed_on_time, s.events_closed) AS on_time_rate,
           m_sign_rate(s.signoffs_signed, s.signoffs_needed) AS sign_rate,
           m_collection_rate(s.collected, s.households) AS collection_rate,
           coalesce(v.den, 0) AS supervision_issued, coalesce(v.num, 0) AS supervision_answered,
           -- no 督办 issued: full marks
           CASE WHEN coalesce(v.den, 0) = 0 THEN 1.0 ELSE v.num / v.den END AS supervision_rate
    FROM summed s
    LEFT JOIN ext_sum e ON e.kind = 'effective' AND e.period = s.period AND e.ru_code = s.ru_code
    LEFT JOIN ext_sum v ON v.kind = 'supervision' AND v.period = s.period AND v.ru_code = s.ru_code
),
capped AS (
    -- capped at 100% (least() would skip a NULL: no base stays NULL)
    SELECT *,
           CASE WHEN activity_rate > 1 THEN 1.0 ELSE activity_rate END AS c_activity, CASE WHEN effective_rate > 1 THEN 1.0 ELSE effective_rate END AS c_effective,
           CASE WHEN completion_rate > 1 THEN 1.0 ELSE completion_rate END AS c_completion, CASE WHEN on_time_rate > 1 THEN 1.0 ELSE on_time_rate END AS c_on_time,
           CASE WHEN sign_rate > 1 THEN 1.0 ELSE sign_rate END AS c_sign, CASE WHEN collection_rate > 1 THEN 1.0 ELSE collection_rate END AS c_collection,
           CASE WHEN supervision_rate > 1 THEN 1.0 ELSE supervision_rate END AS c_supervision
    FROM rates
),
based AS (
    SELECT *,
           CASE WHEN c_activity IS NULL THEN 0 ELSE $w_activity END
         + CASE WHEN c_effective IS NULL THEN 0 ELSE $w_effective END
         + CASE WHEN c_completion IS NULL THEN 0 ELSE $w_completion END
         + CASE WHEN c_on_time IS NULL THEN 0 ELSE $w_on_time END
         + CASE WHEN c_sign IS NULL THEN 0 ELSE $w_sign END
         + CASE WHEN c_collection IS NULL THEN 0 ELSE $w_collection END
         + CASE WHEN c_supervision IS NULL THEN 0 ELSE $w_supervision END AS based_weight,
           -- a unit with nothing of its own to assess (only the 督办 full marks) is not scored
           coalesce(c_activity, c_effective, c_completion, c_on_time, c_sign, c_collection) IS NOT NULL AS assessed
    FROM capped
),
scored AS (
    SELECT * EXCLUDE (c_activity, c_effective, c_completion, c_on_time, c_sign, c_collection, c_supervision),
           coalesce(100.0 * $w_activity / nullif(based_weight, 0) * (c_activity IS NOT NULL)::INT, 0) AS weight_activity,
           coalesce(100.0 * $w_effective / nullif(based_weight, 0) * (c_effective IS NOT NULL)::INT, 0) AS weight_effective,
           coalesce(100.0 * $w_completion / nullif(based_weight, 0) * (c_completion IS NOT NULL)::INT, 0) AS weight_completion,
           coalesce(100.0 * $w_on_time / nullif(based_weight, 0) * (c_on_time IS NOT NULL)::INT, 0) AS weight_on_time,
           coalesce(100.0 * $w_sign / nullif(based_weight, 0) * (c_sign IS NOT NULL)::INT, 0) AS weight_sign,
           coalesce(100.0 * $w_collection / nullif(based_weight, 0) * (c_collection IS NOT NULL)::INT, 0) AS weight_collection,
           coalesce(100.0 * $w_supervision / nullif(based_weight, 0) * (c_supervision IS NOT NULL)::INT, 0) AS weight_supervision,
           100.0 * $w_activity / nullif(based_weight, 0) * c_activity AS score_activity,
           100.0 * $w_effective / nullif(based_weight, 0) * c_effective AS score_effective,
           100.0 * $w_completion / nullif(based_weight, 0) * c_completion AS score_completion,
           100.0 * $w_on_time / nullif(based_weight, 0) * c_on_time AS score_on_time,
           100.0 * $w_sign / nullif(based_weight, 0) * c_sign AS score_sign,
           100.0 * $w_collection / nullif(based_weight, 0) * c_collection AS score_collection,
           100.0 * $w_supervision / nullif(based_weight, 0) * c_supervision AS score_supervision
    FROM based
),
total AS (
    SELECT *,
           CASE WHEN assessed AND based_weight > 0 THEN
               coalesce(score_activity, 0) + coalesce(score_effective, 0) + coalesce(score_completion, 0)
             + coalesce(score_on_time, 0) + coalesce(score_sign, 0) + coalesce(score_collection, 0)
             + coalesce(score_supervision, 0) END AS score
    FROM scored
),
ranked AS (
    SELECT *,
           CASE WHEN score IS NOT NULL THEN rank() OVER (PARTITION BY period ORDER BY round(score, 6) DESC) END AS rank,
           CASE WHEN score IS NULL THEN NULL WHEN score >= $reward_score THEN '优秀'
                WHEN score >= $pass_score THEN '达标' ELSE '不达标' END AS grade
    FROM total
)
SELECT r.ru_code, r.ru_name, r.short_name, r.township_code, r.township_name, r.sort_order,
       cur.* EXCLUDE (period, ru_code),
       prev.score AS prev_score, prev.rank AS prev_rank, prev.grade AS prev_grade,
       prev.rank - cur.rank AS movement
FROM dim_reporting_unit r
JOIN ranked cur ON cur.ru_code = r.ru_code AND cur.period = 'cur'
LEFT JOIN ranked prev ON prev.ru_code = r.ru_code AND prev.period = 'prev'
WHERE ($scope_township IS NULL OR r.township_code = $scope_township)
  AND ($ru_code IS NULL OR r.ru_code = $ru_code)  -- one unit's row, ranked among all (NULL: every unit)
ORDER BY cur.rank NULLS LAST, r.sort_order;
