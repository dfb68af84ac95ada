-- Facts: current state of every record, with its 乡镇 / reporting unit and reference checks.

CREATE TABLE fact_activity AS
SELECT l.log_id, l.account_id, l.op_time, CAST(l.op_time AS DATE) AS op_date, l.op_type, l.terminal, l.lon, l.lat,
       a.township_code, a.ru_code,
       CASE WHEN a.account_id IS NULL THEN list_append(l._flags, 'unknown_account') ELSE l._flags END AS _flags,
       l._file, l._row
FROM stg_activity_log l LEFT JOIN dim_account a USING (account_id)
ORDER BY l.op_time;

CREATE TABLE fact_event AS
SELECT e.event_id, e.reported_at, e.reporter_account, e.grid_code, e.category, e.source, e.summary, e.lon, e.lat,
       e.handling_level, e.status, e.deadline, e.closed_at, e.satisfaction, e.supervision, e.updated_at,
       m.township_code, m.community_code, m.ru_code,
       e.closed_at IS NOT NULL AS is_closed,
       e.closed_at IS NOT NULL AND e.deadline IS NOT NULL AND e.closed_at <= e.deadline AS closed_on_time,
       -- minutes as DuckDB's date_diff counts them (minute boundaries crossed), written portable (warehouse/portable.py):
       -- the difference of the times truncated to the minute, divided as doubles
       CASE WHEN e.closed_at >= e.reported_at
            THEN date_diff('minute', date_trunc('minute', e.reported_at), date_trunc('minute', e.closed_at)) / 60 END
           AS hours_to_close,
       CASE WHEN NOT coalesce(m.known, FALSE) THEN list_append(e._flags, 'unknown_grid') ELSE e._flags END AS _flags,
       e._file, e._row
FROM stg_events e LEFT JOIN map_code m ON m.code = e.grid_code
ORDER BY e.reported_at;

CREATE TABLE fact_event_flow AS
SELECT f.event_id, f.seq, f.action, f.from_unit, f.to_unit, f.account_id, f.action_time, f.note, f.updated_at,
       e.ru_code, e.township_code,
       f._flags, f._file, f._row
FROM stg_event_flow f LEFT JOIN fact_event e USING (event_id)
ORDER BY f.event_id, f.seq;

CREATE TABLE fact_kp_report AS
SELECT k.report_id, k.category, k.id_number, k.person_name, k.grid_code, k.reporter_account, k.reported_at,
       k.police_station, k.police_signed_at, k.justice_office, k.justice_signed_at, k.health_center, k.health_signed_at,
       k.updated_at, m.township_code, m.community_code, m.ru_code,
       CASE WHEN NOT coalesce(m.known, FALSE) THEN list_append(k._flags, 'unknown_grid') ELSE k._flags END AS _flags,
       k._file, k._row
FROM stg_key_person_reports k LEFT JOIN map_code m ON m.code = k.grid_code
ORDER BY k.reported_at;

-- One row per sign-off a report needs (严重精神障碍患者 need two: 派出所 and 卫生院).
CREATE TABLE fact_kp_signoff AS
SELECT r.report_id, r.category, r.reported_at, r.grid_code, r.township_code, r.ru_code, o.office_kind,
       CASE o.office_kind WHEN '派出所' THEN r.police_station WHEN '司法所' THEN r.justice_office
                          ELSE r.health_center END AS office_name,
       CASE o.office_kind WHEN '派出所' THEN r.police_signed_at WHEN '司法所' THEN r.justice_signed_at
                          ELSE r.health_signed_at END AS signed_at
FROM fact_kp_report r JOIN cfg_kp_office o ON o.category = r.category
ORDER BY r.reported_at;

CREATE TABLE fact_collection AS
SELECT c.grid_code, c.stat_date, c.households_collected, c.persons, c.floating, c.houses, c.rentals, c.key_places,
       c.updated_at, m.township_code, m.community_code, m.ru_code,
       CASE WHEN NOT coalesce(m.known, FALSE) THEN list_append(c._flags, 'unknown_grid') ELSE c._flags END AS _flags,
       c._file, c._row
FROM stg_collection_stats c LEFT JOIN map_code m ON m.code = c.grid_code
ORDER BY c.stat_date, c.grid_code;
