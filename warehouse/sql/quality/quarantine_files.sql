-- The deliveries with quarantined rows: how many are still open and how many a later delivery corrected; the
-- file's own headers (its manifest) for sending the rows back (dashboard/quarantine.py).
SELECT q.delivery, q.source_file, q.dataset, f.landed_at, f.headers,
       count(*) AS rows, count(*) FILTER (q.status = '未解决') AS open, count(*) FILTER (q.status = '已更正') AS corrected,
       string_agg(DISTINCT q.township_name, '、' ORDER BY q.township_name) AS townships
FROM dq_quarantine q LEFT JOIN etl_file f USING (delivery)
WHERE ($scope_township IS NULL OR q.township_code = $scope_township)
  AND ($township IS NULL OR q.township_code = $township)
GROUP BY ALL
ORDER BY open DESC, q.delivery DESC;
