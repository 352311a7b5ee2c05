"""Benchmarks and load measurements, run by hand (not part of the test run).

    uv run python -m bench.run [--quick]     floor, end to end, throughput, submission, epicbox
    uv run python -m bench.load [--quick]    10 to 100 concurrent: success, latency, CPU, memory

docs/performance.md and docs/testing/performance-metrics.md quote what they measured.
"""
