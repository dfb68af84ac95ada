"""The neutral package: settings (core.config) and the domain vocabulary and feed contract (core.spec).

Everything may import it (etl, warehouse, dashboard, pages, demo, perf, tests); it imports none of them. The layer
rule is written down as code in tests/test_layers.py."""
