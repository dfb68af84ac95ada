"""Measuring tools, apart from the production code: the benchmark (perf/bench.py, with its plain-pandas baseline
perf/baseline_pandas.py), the browser load test (perf/loadtest.py) and the timing primitives they share
(perf/timing.py).

    python -m perf bench    [--scale tiny|county|city] [--out results.json] …
    python -m perf loadtest --warehouse WH [--sessions 10] …

perf may import every package of the project; nothing imports perf (tests/test_layers.py). The old command
paths `python -m warehouse bench …` and `python -m warehouse.loadtest …` are aliases that start these commands
in a new process, so the production packages never import a tool.
"""
