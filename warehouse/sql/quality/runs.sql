-- ETL runs, newest first.
SELECT run_id, source, status, started_at, finished_at, duration_s, files_new, files_already_loaded, files_failed,
       files_ignored, rows_in, rows_landed, rows_quarantined, published, error
FROM etl_run
ORDER BY started_at DESC
LIMIT $limit;
