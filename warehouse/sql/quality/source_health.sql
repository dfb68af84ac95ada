-- Feeding sources configured in [[sources]] (前置库, 接口, 投递目录): failed / partial / quiet / never / ok, worst
-- first (partial: files, pages or batches of the source failed and are not resolved, as of the build).
-- source_health is written at each build (from lake/state/sources.json); the status is recomputed here against
-- the current time, so a source that has gone quiet since shows as quiet. A source that failed after the last
-- build is only in etl.sources.health() (live), which the wall display also reads.
WITH h AS (
    SELECT *,
           CASE
               WHEN last_attempt IS NULL THEN 'never'
               WHEN status = 'failed' THEN 'failed'  -- the last attempt failed (as of the build)
               WHEN status = 'partial' THEN 'partial'  -- some of it failed (as of the build)
               WHEN coalesce(last_new_data, first_success) IS NULL
                    OR coalesce(last_new_data, first_success) < localtimestamp - to_seconds(quiet_hours * 3600)
                   THEN 'quiet'
               ELSE 'ok'
           END AS status_now
    FROM source_health
)
SELECT name, kind, kind_label, source, status_now AS status,
       CASE status_now WHEN 'ok' THEN '正常' WHEN 'partial' THEN '部分失败' WHEN 'failed' THEN '失败'
                       WHEN 'quiet' THEN '无新数据' ELSE '未运行' END
           AS status_label,
       last_attempt, last_success, last_failure, last_new_data,
       CASE WHEN status_now IN ('failed', 'partial') THEN error END AS error, quiet_hours, checked_at
FROM h
ORDER BY CASE status_now WHEN 'failed' THEN 0 WHEN 'partial' THEN 1 WHEN 'quiet' THEN 2 WHEN 'never' THEN 3 ELSE 4 END,
         name;
