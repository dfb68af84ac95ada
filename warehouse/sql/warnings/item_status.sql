-- Whether the items of 督办单s are answered (warehouse/supervision.py): each event of $event_ids with the time it
-- was closed (its end: closed_at, or the time a 已办结/已关闭 status was recorded), each sign-off of
-- $signoff_keys ('report_id|office_name') with the time it was signed; NULL: not yet, in the published data.
-- Ids only, no personal data; the caller's scope filters the rows.
SELECT 'event' AS kind, event_id AS item_id, NULL::VARCHAR AS office_name, ended_at AS answered_at, ru_code,
       township_code
FROM agg_event
WHERE list_contains($event_ids, event_id) AND $scope_office IS NULL
  AND ($scope_township IS NULL OR township_code = $scope_township)
UNION ALL
SELECT 'signoff', report_id, office_name, signed_at, ru_code, township_code
FROM fact_kp_signoff
WHERE list_contains($signoff_keys, report_id || '|' || office_name)
  AND ($scope_office IS NULL OR office_name = $scope_office)
  AND ($scope_township IS NULL OR township_code = $scope_township);
