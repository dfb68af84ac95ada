-- Per dataset: records, superseded versions, quarantined rows, files, last delivery and newest update.
SELECT dataset, title, records, landed_rows, superseded, quarantined, files, last_file, last_landed_at, max_updated_at
FROM dataset_freshness
ORDER BY dataset;
