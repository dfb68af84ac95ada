-- Delivered files, newest delivery first: format, encoding, rows in / landed / quarantined.
SELECT delivery, file, dataset, format, encoding, bytes, rows_in, rows_landed, rows_quarantined, banner_rows,
       summary_rows, unknown_columns, missing_columns, landed_at, seconds
FROM etl_file
ORDER BY delivery DESC
LIMIT $limit;
