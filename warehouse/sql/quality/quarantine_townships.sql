-- Quarantined rows per 乡镇: still open (未解决) and corrected by a later delivery (已更正).
SELECT township_code, township_name,
       count(*) FILTER (status = '未解决') AS open, count(*) FILTER (status = '已更正') AS corrected,
       count(DISTINCT delivery) FILTER (status = '未解决') AS files_open
FROM dq_quarantine
WHERE ($scope_township IS NULL OR township_code = $scope_township)
GROUP BY ALL
ORDER BY open DESC, township_code NULLS LAST;
