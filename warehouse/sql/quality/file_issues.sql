-- Files of the latest run that could not be read or are not deliveries (they are retried on every run).
SELECT file, kind, reason FROM etl_file_issue ORDER BY kind, file;
