-- Normalisation rules for delivered values (documented in README, "How the ETL repairs data").
-- Every macro takes and returns plain types; NULL in, NULL out. The parsing macros (gw_ts, gw_int, gw_float,
-- gw_id) take values already passed through gw_clean (the normaliser cleans every column once).

-- Trim ASCII and full-width white space and BOMs; empty → NULL.
CREATE OR REPLACE MACRO gw_clean(s) AS
    nullif(regexp_replace(CAST(s AS VARCHAR), '^[\s\x{3000}\x{feff}\x{a0}]+|[\s\x{3000}\x{feff}\x{a0}]+$', '', 'g'), '');

-- Zone offsets (the ONE zone rule, for every channel): a timestamp written with `Z` (UTC) or an offset
-- (`+08:00`, `+0800`, `-05`) is converted to Asia/Shanghai local time, naive. Asia/Shanghai has been UTC+8 without
-- daylight saving since 1992 and timestamps before [etl] min_year (2000) are out of range anyway, so the
-- conversion is exactly `− offset + 8 h`. A timestamp without a zone is local time already (docs/feeds.md).
CREATE OR REPLACE MACRO gw_offset_minutes(o) AS (
    CASE
        WHEN o IS NULL THEN NULL
        WHEN o IN ('Z', 'z') THEN 0
        ELSE (CASE WHEN o[1] = '-' THEN -1 ELSE 1 END)
             * (CAST(substr(o, 2, 2) AS INTEGER) * 60
                + CASE WHEN length(replace(o, ':', '')) = 5 THEN CAST(substr(replace(o, ':', ''), 4, 2) AS INTEGER)
                       ELSE 0 END)
    END);

CREATE OR REPLACE MACRO gw_ts_zoned(s) AS (
    try_strptime(regexp_replace(replace(regexp_extract(s, '^(.*?)\s*([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$', 1), 'T', ' '),
                                '[.,][0-9]+$', ''),
                 ['%Y-%m-%d %H:%M:%S', '%Y-%m-%d %H:%M'])
    - to_minutes(CAST(gw_offset_minutes(regexp_extract(s, '([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$', 1)) AS BIGINT))
    + INTERVAL 8 HOUR);

-- Timestamps: `2024-03-05 14:02:11`, `2024/3/5 14:02`, `2024-03-05T14:02:11(.fff)`, with `Z` or an offset
-- (converted, above), `2024年3月5日 14:02`, date only, or an Excel serial number (days since 1899-12-30,
-- 20000–80000 i.e. 1954–2119). Fractions of a second are dropped. Whether a parsed time is plausible (not before
-- [etl] min_year, not beyond [etl] max_future_days after the load) is decided by the normaliser.
CREATE OR REPLACE MACRO gw_ts(s) AS coalesce(
    try_strptime(s, '%Y-%m-%d %H:%M:%S'),   -- the common case first
    CASE
        WHEN s IS NULL THEN NULL
        WHEN regexp_full_match(s, '[0-9]{5}(\.[0-9]+)?') AND CAST(s AS DOUBLE) BETWEEN 20000 AND 80000
            THEN CAST(TIMESTAMP '1899-12-30 00:00:00'
                 + to_microseconds(CAST(round(CAST(s AS DOUBLE) * 86400) * 1000000 AS BIGINT)) AS TIMESTAMP)
        WHEN regexp_full_match(s, '[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}[T ][0-9]{1,2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?\s*([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)')
            THEN gw_ts_zoned(s)
        ELSE try_strptime(
            regexp_replace(replace(s, 'T', ' '), '\.[0-9]+$', ''),
            ['%Y-%m-%d %H:%M:%S', '%Y-%m-%d %H:%M', '%Y-%m-%d',
             '%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y/%m/%d',
             '%Y年%m月%d日 %H:%M:%S', '%Y年%m月%d日 %H:%M', '%Y年%m月%d日 %H时%M分', '%Y年%m月%d日',
             '%Y.%m.%d %H:%M:%S', '%Y.%m.%d', '%Y%m%d %H:%M:%S', '%Y%m%d'])
    END);

-- Integers: exactly an integer, or nothing (the normaliser flags it): `12`, `-3`, `+5`, thousands separators in
-- groups of three (`1,234,567`), an integral decimal (`12.0`, an Excel number). Not `12.5` (no rounding), not
-- `1,2,3,4`, not `1e3`, `NaN`, `inf` or a value beyond BIGINT (20 digits).
CREATE OR REPLACE MACRO gw_int(s) AS (
    CASE
        WHEN regexp_full_match(s, '[+-]?[0-9]+') THEN try_cast(s AS BIGINT)
        WHEN regexp_full_match(s, '[+-]?[0-9]+\.0+') THEN try_cast(split_part(s, '.', 1) AS BIGINT)
        WHEN regexp_full_match(s, '[+-]?[0-9]{1,3}(,[0-9]{3})+') THEN try_cast(replace(s, ',', '') AS BIGINT)
    END);

-- Decimal numbers (coordinates): plain or scientific notation, finite; not `NaN`, `inf`, `0x10` or `1_000`.
CREATE OR REPLACE MACRO gw_float(s) AS (
    CASE WHEN regexp_full_match(s, '[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?')
              AND isfinite(try_cast(s AS DOUBLE))
         THEN try_cast(s AS DOUBLE) END);

-- GB 11643 check character of the first 17 digits (NULL unless they are 17 digits).
CREATE OR REPLACE MACRO gw_id_check(s17) AS
    CASE WHEN regexp_full_match(s17, '[0-9]{17}') THEN
    substr('10X98765432',
           CAST(list_sum(list_transform(range(17),
               lambda i: try_cast(substr(s17, i + 1, 1) AS INTEGER) * [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2][i + 1])) % 11 AS INTEGER) + 1,
           1) END;

-- The shape of a 身份证号 (before the check): 15 digits, or 17 digits and a digit or X/x. Anything else (`不详`,
-- 16 digits) is not an ID number: the normaliser empties it and flags bad_value:id_number.
CREATE OR REPLACE MACRO gw_id_shape(s) AS regexp_full_match(s, '[0-9]{15}|[0-9]{17}[0-9Xx]');

-- 身份证号: upper-case x; a 15-digit legacy number becomes 18 digits (insert '19', add the check character).
CREATE OR REPLACE MACRO gw_id(s) AS (
    CASE
        WHEN regexp_full_match(s, '[0-9]{15}')
            THEN substr(s, 1, 6) || '19' || substr(s, 7) || gw_id_check(substr(s, 1, 6) || '19' || substr(s, 7))
        ELSE upper(s)
    END);

CREATE OR REPLACE MACRO gw_id_valid(id) AS
    CASE WHEN regexp_full_match(id, '[0-9]{17}[0-9X]')
         THEN coalesce(gw_id_check(substr(id, 1, 17)) = substr(id, 18, 1)
                       AND try_strptime(substr(id, 7, 8), '%Y%m%d') IS NOT NULL, FALSE)
         ELSE FALSE END;

-- Coordinates: 0,0 means unknown; a pair with lon in latitude range and lat in longitude range is swapped back;
-- anything outside China's extent is dropped; BD09 is noted (the datum itself is converted afterwards in numpy).
CREATE OR REPLACE MACRO gw_coord(lon, lat, sys) AS (
    CASE
        WHEN lon IS NULL AND lat IS NULL THEN {'lon': NULL::DOUBLE, 'lat': NULL::DOUBLE, 'flag': NULL::VARCHAR}
        WHEN lon IS NULL OR lat IS NULL THEN {'lon': NULL::DOUBLE, 'lat': NULL::DOUBLE, 'flag': 'coord_out_of_range'}
        WHEN lon = 0 AND lat = 0 THEN {'lon': NULL::DOUBLE, 'lat': NULL::DOUBLE, 'flag': 'coord_zero'}
        WHEN lon BETWEEN 3 AND 54 AND lat BETWEEN 73 AND 136 THEN {'lon': lat, 'lat': lon, 'flag': 'coord_swapped'}
        WHEN lon NOT BETWEEN 73 AND 136 OR lat NOT BETWEEN 3 AND 54
            THEN {'lon': NULL::DOUBLE, 'lat': NULL::DOUBLE, 'flag': 'coord_out_of_range'}
        ELSE {'lon': lon, 'lat': lat, 'flag': CASE WHEN sys = 'BD09' THEN 'coord_bd09' END}
    END);
