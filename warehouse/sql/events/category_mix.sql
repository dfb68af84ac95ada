-- Events by category (事件类别) for [$start, $end): reported, closed, completion, overdue open, share of all
-- reported, and the previous period's reported beside it; of one reporting unit $ru_code (NULL: all in scope).
-- Categories in the contract's order; events of a category not in the contract counted under 未知类别
-- (m_category), last.
WITH ev AS (
    SELECT period, category, count(*) FILTER (reported) AS reported, count(*) FILTER (closed) AS closed,
           count(*) FILTER (overdue_open) AS overdue_open
    FROM m_event_activity(m_cur_prev($start, $end, $prev_start, $prev_end, at_ts := $period_asof))
    WHERE ($scope_township IS NULL OR township_code = $scope_township) AND ($ru_code IS NULL OR ru_code = $ru_code)
    GROUP BY ALL
),
cats AS (
    SELECT category FROM cfg_event_category
    UNION SELECT category FROM ev
)
SELECT k.category,
       coalesce(c.reported, 0) AS reported, coalesce(c.closed, 0) AS closed,
       m_completion_rate(c.closed, c.reported) AS completion_rate, coalesce(c.overdue_open, 0) AS overdue_open,
       coalesce(c.reported, 0) / nullif(sum(coalesce(c.reported, 0)) OVER (), 0) AS share,
       coalesce(p.reported, 0) AS prev_reported, coalesce(p.closed, 0) AS prev_closed
FROM cats k
LEFT JOIN ev c ON c.category = k.category AND c.period = 'cur'
LEFT JOIN ev p ON p.category = k.category AND p.period = 'prev'
ORDER BY m_event_category_order(k.category), k.category;
