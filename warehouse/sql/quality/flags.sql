-- Data-quality flags on current records (repairs and doubts), by dataset.
SELECT dataset, flag, n FROM dq_flag ORDER BY dataset, n DESC, flag;
