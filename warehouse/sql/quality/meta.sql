-- Facts about the published warehouse: version, build time, county, data coverage.
SELECT key, value FROM meta ORDER BY key;
