-- Per dataset: records, superseded versions, quarantined rows, files, last delivery and newest update (max_updated_at:
-- not later than the record's delivery + the future tolerance; the records dated later: future_rows, with the
-- latest such time max_future_updated_at).
SELECT dataset, title, records, landed_rows, superseded, quarantined, files, last_file, last_landed_at, max_updated_at,
       future_rows, max_future_updated_at
FROM dataset_freshness
ORDER BY dataset;
