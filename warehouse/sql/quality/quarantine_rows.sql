-- The quarantined rows themselves, with file, row, reason and the delivered values (masked by the runner).
SELECT dataset, source_file, source_row, reason, raw
FROM quarantine
WHERE ($dataset IS NULL OR dataset = $dataset)
  AND ($reason_kind IS NULL OR reason_kind = $reason_kind)
ORDER BY delivery DESC, source_row
LIMIT $limit;
