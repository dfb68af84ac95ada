-- Dimensions: counties, reporting units, the code → reporting-unit map, units with their hierarchy, accounts, offices.
-- Inputs: stg_* (latest version per key), cfg_split and cfg_county (from configuration).
-- The county of every row is the first 6 digits of its code (区划代码: county 6, 乡镇 9, 社区/村 12, grid more): a
-- county deployment holds one county, a city deployment (config [deployment] level = "city") several in one lake.

-- 社区 or 村 for a 12-digit code: its org_units level when known, else the national code rule
-- (统计用区划代码: 001–199 居委会 = 社区, 200+ 村委会 = 村).
CREATE OR REPLACE TEMP MACRO gw_community_level(code12, known_level) AS
    coalesce(known_level, CASE WHEN length(code12) = 12
                               THEN CASE WHEN try_cast(substr(code12, 10, 3) AS INTEGER) < 200 THEN '社区' ELSE '村' END END);

-- Counties (县): every county a 县 or 乡镇 row of org_units names, by its 6-digit code; its name from its 县 row,
-- else from configuration (cfg_county: [county] name for [county] code), else the code itself; in code order.
CREATE TABLE dim_county AS
WITH codes AS (
    SELECT DISTINCT left(unit_code, 6) AS county_code FROM stg_org_units
    WHERE level IN ('县', '乡镇') AND length(unit_code) >= 6
)
SELECT c.county_code, coalesce(u.unit_name, f.county_name, c.county_code) AS county_name,
       CAST(row_number() OVER (ORDER BY c.county_code) AS INTEGER) AS sort_order
FROM codes c
LEFT JOIN (SELECT unit_code, min(unit_name) AS unit_name FROM stg_org_units WHERE level = '县' GROUP BY ALL) u
       ON u.unit_code = c.county_code
LEFT JOIN cfg_county f ON f.county_code = c.county_code
ORDER BY c.county_code;

-- Reporting units (报告单位): each 乡镇, or for a split 乡镇 its urban (社区) part and its rural (村) part.
CREATE TABLE dim_reporting_unit AS
WITH t AS (SELECT unit_code, unit_name, unit_kind FROM stg_org_units WHERE level = '乡镇'),
parts AS (
    SELECT t.unit_code AS township_code, t.unit_name AS township_name, t.unit_code AS ru_code,
           t.unit_name AS ru_name,
           CASE WHEN t.unit_kind = '开发区' OR t.unit_name LIKE '%区' THEN t.unit_name
                ELSE regexp_replace(t.unit_name, '(街道办事处|街道|镇|乡)$', '') END AS short_name,
           '全部' AS part, 0 AS part_order
    FROM t WHERE t.unit_name NOT IN (SELECT township FROM cfg_split)
    UNION ALL
    SELECT t.unit_code, t.unit_name, t.unit_code || '-U', s.urban_name, s.urban_name, '社区', 1
    FROM t JOIN cfg_split s ON s.township = t.unit_name
    UNION ALL
    SELECT t.unit_code, t.unit_name, t.unit_code || '-R', s.rural_name, s.rural_name, '村', 2
    FROM t JOIN cfg_split s ON s.township = t.unit_name
)
SELECT parts.*, CAST(row_number() OVER (ORDER BY township_code, part_order) AS INTEGER) AS sort_order,
       left(township_code, 6) AS county_code, k.county_name
FROM parts LEFT JOIN dim_county k ON k.county_code = left(parts.township_code, 6)
ORDER BY sort_order;

-- Every unit code the deliveries mention (also the ones missing from org_units) → 乡镇, 社区/村, reporting unit.
CREATE TABLE map_code AS
WITH codes AS (
    SELECT unit_code AS code FROM stg_org_units
    UNION SELECT grid_code FROM stg_events
    UNION SELECT grid_code FROM stg_key_person_reports
    UNION SELECT grid_code FROM stg_collection_stats
    UNION SELECT unit_code FROM stg_accounts
)
SELECT codes.code,
       u.unit_code IS NOT NULL AS known,
       u.level,
       CASE WHEN length(codes.code) >= 9 THEN left(codes.code, 9) END AS township_code,
       CASE WHEN length(codes.code) >= 12 THEN left(codes.code, 12) END AS community_code,
       CASE WHEN length(codes.code) >= 12 THEN gw_community_level(left(codes.code, 12), c.level) END AS community_level,
       r.ru_code,
       CASE WHEN length(codes.code) >= 6 THEN left(codes.code, 6) END AS county_code
FROM codes
LEFT JOIN stg_org_units u ON u.unit_code = codes.code
LEFT JOIN stg_org_units c ON c.unit_code = left(codes.code, 12) AND c.level IN ('社区', '村')
LEFT JOIN dim_reporting_unit r
       ON r.township_code = left(codes.code, 9)
      AND (r.part = '全部'
           OR (length(codes.code) >= 12 AND r.part = gw_community_level(left(codes.code, 12), c.level)))
WHERE codes.code IS NOT NULL;

CREATE TABLE dim_unit AS
SELECT o.unit_code, o.unit_name, o.level, o.parent_code, o.unit_kind, o.households, o.population,
       o.center_lon, o.center_lat, o.boundary,
       m.township_code, tw.unit_name AS township_name,
       CASE WHEN o.level IN ('社区', '村', '网格') THEN m.community_code END AS community_code,
       cm.unit_name AS community_name,
       CASE WHEN o.level IN ('社区', '村', '网格') THEN m.community_level END AS community_level,
       CASE WHEN o.level IN ('乡镇', '社区', '村', '网格') THEN m.ru_code END AS ru_code,
       o.updated_at, o._flags, o._file, o._row,
       m.county_code, k.county_name
FROM stg_org_units o
JOIN map_code m ON m.code = o.unit_code
LEFT JOIN dim_county k ON k.county_code = m.county_code
LEFT JOIN stg_org_units tw ON tw.unit_code = m.township_code AND tw.level = '乡镇'
LEFT JOIN stg_org_units cm ON cm.unit_code = m.community_code AND cm.level IN ('社区', '村')
ORDER BY o.unit_code;

CREATE TABLE dim_account AS
SELECT a.account_id, a.person_name, a.phone, a.unit_code, a.role, a.dept_name, a.status, a.opened_at, a.closed_at,
       a.updated_at,
       CASE WHEN a.role IN (SELECT office_kind FROM cfg_office_kind) THEN a.role END AS dept_kind,
       a.role IN ('网格员', '网格长') AS is_grid_worker,
       m.level AS unit_level, m.township_code, m.community_code, m.ru_code,
       NOT coalesce(m.known, FALSE) AS unknown_unit,
       CASE WHEN NOT coalesce(m.known, FALSE) THEN list_append(a._flags, 'unknown_unit') ELSE a._flags END AS _flags,
       a._file, a._row,
       m.county_code, k.county_name
FROM stg_accounts a LEFT JOIN map_code m ON m.code = a.unit_code
LEFT JOIN dim_county k ON k.county_code = m.county_code
ORDER BY a.account_id;

-- Department offices (派出所/司法所/卫生院): from their accounts and from the offices named in reports; an office
-- is its name within its county (two counties of a city may each have a 文昌派出所).
CREATE TABLE dim_office AS
WITH named AS (
    SELECT police_station AS office_name, '派出所' AS office_kind, grid_code FROM stg_key_person_reports WHERE police_station IS NOT NULL
    UNION ALL SELECT justice_office, '司法所', grid_code FROM stg_key_person_reports WHERE justice_office IS NOT NULL
    UNION ALL SELECT health_center, '卫生院', grid_code FROM stg_key_person_reports WHERE health_center IS NOT NULL
),
from_accounts AS (
    SELECT dept_name AS office_name, dept_kind AS office_kind, min(township_code) AS township_code,
           left(unit_code, 6) AS county_code
    FROM dim_account WHERE dept_kind IS NOT NULL AND dept_name IS NOT NULL GROUP BY ALL
),
from_reports AS (
    SELECT office_name, office_kind, min(left(grid_code, 9)) AS township_code, left(grid_code, 6) AS county_code
    FROM named GROUP BY ALL
)
SELECT o.office_name, o.office_kind, o.township_code, t.unit_name AS township_name,
       EXISTS (SELECT 1 FROM from_accounts a
               WHERE a.office_name = o.office_name AND a.county_code IS NOT DISTINCT FROM o.county_code) AS has_account,
       o.county_code
FROM (SELECT * FROM from_accounts
      UNION ALL
      SELECT * FROM from_reports r
      WHERE NOT EXISTS (SELECT 1 FROM from_accounts a
                        WHERE a.office_name = r.office_name AND a.county_code IS NOT DISTINCT FROM r.county_code)) o
LEFT JOIN stg_org_units t ON t.unit_code = o.township_code AND t.level = '乡镇'
ORDER BY o.township_code, o.office_kind;
