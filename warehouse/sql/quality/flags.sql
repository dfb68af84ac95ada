-- Data-quality flags on current records (repairs and doubts), by dataset. For unknown_code:<column>: the column's
-- Chinese header and the delivered values with their counts (codes: '留守儿童 (2)、…'), from dq_unknown_code.
SELECT f.dataset, f.flag, f.n, u.header, u.codes
FROM dq_flag f
LEFT JOIN (SELECT dataset, 'unknown_code:' || column_name AS flag, min(header) AS header,
                  string_agg(code || ' (' || n || ')', '、' ORDER BY n DESC, code) AS codes
           FROM dq_unknown_code GROUP BY ALL) u USING (dataset, flag)
ORDER BY f.dataset, f.n DESC, f.flag;
