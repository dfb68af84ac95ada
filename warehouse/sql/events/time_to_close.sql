-- How long the events closed in [$start, $end) took, from report to close, in buckets; with how many of each
-- were closed on time; of one reporting unit $ru_code (NULL: all in scope). Events closed before they were reported (a data-quality flag) fall in '时间有误'.
WITH ev AS (
    SELECT hours_to_close, closed_on_time
    FROM m_event_activity([m_period('cur', $start, $end, at_ts := $period_asof)])
    WHERE closed AND ($scope_township IS NULL OR township_code = $scope_township)
      AND ($ru_code IS NULL OR ru_code = $ru_code)
),
b AS (SELECT * FROM (VALUES (1, '1天内', 0, 24), (2, '1–3天', 24, 72), (3, '3–7天', 72, 168),
                            (4, '7–15天', 168, 360), (5, '15–30天', 360, 720), (6, '30天以上', 720, NULL),
                            (7, '时间有误', NULL, NULL)) v(bucket_order, bucket, from_hours, to_hours))
SELECT b.bucket_order, b.bucket, b.from_hours, b.to_hours, count(ev.closed_on_time) AS events,
       count(*) FILTER (ev.closed_on_time) AS on_time
FROM b LEFT JOIN ev
  ON (b.bucket_order = 7 AND ev.hours_to_close IS NULL)
  OR (ev.hours_to_close >= b.from_hours AND (b.to_hours IS NULL OR ev.hours_to_close < b.to_hours))
GROUP BY ALL
ORDER BY b.bucket_order;
