"""The demo county (示例县) and the feed simulator: a tool apart from the production path.

Only the app's first start (dashboard.bootstrap) and the `python -m etl demo / serve-demo` commands reach it.

- `generate_city(out, counties, ...)` writes a demo city (示例市): that many demo counties, one subfolder each.
- `generate(out, ...)` (demo.generator) writes the file drop the feeding systems would deliver for a synthetic
  county, with the mess of shared/feeds.md injected at known rates, and returns its truth (also written as
  out/_demo_truth.json, TRUTH_FILE). Deterministic for (seed, months, end_month): byte-identical files.
- Layout: demo.constants (the county's fixed shape and rates), demo.helpers (time, names, ID numbers),
  demo.geo (boundaries), demo.units / demo.events / demo.reports / demo.deliveries (the generator's stages, mixins
  of demo.generator.Generator), demo.mess (the mess injector), demo.writers (the file writers),
  demo.simulator (the HTTP API simulator DemoApi with FaultPlan, and the PostgreSQL feeder load_postgres).
"""
from demo.constants import CITY_CODE, CITY_NAME, COUNTY_CODE, COUNTY_NAME, LIMIT_HOURS, SYSTEM, TOWNSHIPS, TRUTH_FILE
from demo.generator import generate, generate_city
from demo.helpers import id_number
from demo.writers import county_code, county_name

__all__ = ["CITY_CODE", "CITY_NAME", "COUNTY_CODE", "COUNTY_NAME", "LIMIT_HOURS", "SYSTEM", "TOWNSHIPS", "TRUTH_FILE",
           "county_code", "county_name", "generate", "generate_city", "id_number"]
