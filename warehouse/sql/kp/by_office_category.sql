-- 签收 per department office × the categories its kind signs for (cfg_kp_office: 派出所 — 流动人口, 吸毒人员,
-- 严重精神障碍患者; 司法所 — 社区矫正人员, 刑满释放人员; 卫生院 — 严重精神障碍患者), for the reports reported in
-- [$start, $end): sign-offs received and signed before the cut-off $cutoff (NULL: the period's end).
-- The bulletin names, per category, the offices that signed anything ("全县仅文兴派出所进行了签收").
WITH sig AS (
    SELECT office_name, category, count(*) AS received, count(*) FILTER (signed) AS signed
    FROM m_kp_signoffs([m_period('cur', $start, $end)], m_grace($cutoff, $end))
    WHERE ($scope_township IS NULL OR township_code = $scope_township)
    GROUP BY ALL
),
town AS (SELECT township_code, min(sort_order) AS town_order FROM dim_reporting_unit GROUP BY ALL)
SELECT k.category,
       m_category_order(k.category) AS category_order,
       o.office_kind, o.office_name, o.township_code, o.township_name,
       CAST(row_number() OVER (PARTITION BY k.category
                               ORDER BY m_office_order(o.office_kind),
                                        t.town_order NULLS LAST, o.township_code, o.office_name) AS INTEGER) AS sort_order,
       coalesce(s.received, 0) AS received, coalesce(s.signed, 0) AS signed,
       m_sign_rate(s.signed, s.received) AS sign_rate
FROM cfg_kp_office k
JOIN dim_office o ON o.office_kind = k.office_kind
LEFT JOIN town t ON t.township_code = o.township_code
LEFT JOIN sig s ON s.office_name = o.office_name AND s.category = k.category
WHERE ($scope_township IS NULL OR o.township_code = $scope_township)
  AND ($scope_office IS NULL OR o.office_name = $scope_office)
ORDER BY category_order, sort_order;
