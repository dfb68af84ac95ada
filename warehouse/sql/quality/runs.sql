-- ETL runs, newest first (run_seq: the order they started, also within one second of started_at). final = false:
-- the copy of the run that built this version, taken before it ended (no end, no duration yet; published = this
-- version): warehouse.build.final_runs reads its final record.
SELECT run_id, source, status, started_at, finished_at, duration_s, files_new, files_already_loaded, files_failed,
       files_ignored, rows_in, rows_landed, rows_quarantined, published, error, final
FROM etl_run
ORDER BY run_seq DESC
LIMIT $limit;
