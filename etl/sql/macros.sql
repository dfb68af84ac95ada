-- Normalisation rules for delivered values (documented in README, "How the ETL repairs data").
-- Every macro takes and returns plain types; NULL in, NULL out. The parsing macros (gw_ts, gw_int, gw_float,
-- gw_id) take values already passed through gw_clean (the normaliser cleans every column once).

-- Trim ASCII and full-width white space and BOMs; empty → NULL.
CREATE OR REPLACE MACRO gw_clean(s) AS
    nullif(regexp_replace(CAST(s AS VARCHAR), '^[\s\x{3000}\x{feff}\x{a0}]+|[\s\x{3000}\x{feff}\x{a0}]+$', '', 'g'), '');

-- Timestamps: `2024-03-05 14:02:11`, `2024/3/5 14:02`, `2024-03-05T14:02:11(.fff)(Z)`, `2024年3月5日 14:02`,
-- date only, or an Excel serial number (days since 1899-12-30, 20000–80000 i.e. 1954–2119).
CREATE OR REPLACE MACRO gw_ts(s) AS coalesce(
    try_strptime(s, '%Y-%m-%d %H:%M:%S'),   -- the common case first
    CASE
        WHEN s IS NULL THEN NULL
        WHEN regexp_full_match(s, '[0-9]{5}(\.[0-9]+)?') AND CAST(s AS DOUBLE) BETWEEN 20000 AND 80000
            THEN CAST(TIMESTAMP '1899-12-30 00:00:00'
                 + to_microseconds(CAST(round(CAST(s AS DOUBLE) * 86400) * 1000000 AS BIGINT)) AS TIMESTAMP)
        ELSE try_strptime(
            regexp_replace(replace(replace(s, 'T', ' '), 'Z', ''), '\.[0-9]+$', ''),
            ['%Y-%m-%d %H:%M:%S', '%Y-%m-%d %H:%M', '%Y-%m-%d',
             '%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y/%m/%d',
             '%Y年%m月%d日 %H:%M:%S', '%Y年%m月%d日 %H:%M', '%Y年%m月%d日 %H时%M分', '%Y年%m月%d日',
             '%Y.%m.%d %H:%M:%S', '%Y.%m.%d', '%Y%m%d %H:%M:%S', '%Y%m%d'])
    END);

-- Integers: thousands separators allowed, integral floats accepted ("12.0").
CREATE OR REPLACE MACRO gw_int(s) AS coalesce(try_cast(s AS BIGINT), (
    CASE WHEN try_cast(replace(s, ',', '') AS DOUBLE) = round(try_cast(replace(s, ',', '') AS DOUBLE))
         THEN CAST(try_cast(replace(s, ',', '') AS DOUBLE) AS BIGINT) END));

CREATE OR REPLACE MACRO gw_float(s) AS try_cast(s AS DOUBLE);

-- GB 11643 check character of the first 17 digits.
CREATE OR REPLACE MACRO gw_id_check(s17) AS
    substr('10X98765432',
           CAST(list_sum(list_transform(range(17),
               lambda i: CAST(substr(s17, i + 1, 1) AS INTEGER) * [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2][i + 1])) % 11 AS INTEGER) + 1,
           1);

-- 身份证号: upper-case x; a 15-digit legacy number becomes 18 digits (insert '19', add the check character).
CREATE OR REPLACE MACRO gw_id(s) AS (
    CASE
        WHEN regexp_full_match(s, '[0-9]{15}')
            THEN substr(s, 1, 6) || '19' || substr(s, 7) || gw_id_check(substr(s, 1, 6) || '19' || substr(s, 7))
        ELSE upper(s)
    END);

CREATE OR REPLACE MACRO gw_id_valid(id) AS
    regexp_full_match(id, '[0-9]{17}[0-9X]') AND gw_id_check(substr(id, 1, 17)) = substr(id, 18, 1)
    AND try_strptime(substr(id, 7, 8), '%Y%m%d') IS NOT NULL;

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
