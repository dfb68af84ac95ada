-- One delivery's quarantined rows with reason, delivered values (masked by the runner) and state.
SELECT source_row, reason, raw, status, corrected_file, corrected_at, township_name
FROM dq_quarantine
WHERE delivery = $delivery
  AND ($scope_township IS NULL OR township_code = $scope_township)
ORDER BY source_row;
