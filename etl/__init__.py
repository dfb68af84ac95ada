"""ETL: feeding systems (file drop, 前置库, HTTP API) → landed Parquet → published DuckDB warehouse."""
