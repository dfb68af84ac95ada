-- Quarantined rows counted by dataset and reason (the reason without the offending value).
SELECT dataset, reason_kind, count(*) AS n, count(DISTINCT source_file) AS files
FROM quarantine
GROUP BY ALL
ORDER BY n DESC, dataset, reason_kind;
