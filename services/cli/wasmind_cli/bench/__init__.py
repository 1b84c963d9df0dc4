"""Benchmark suites of ``wasmind bench``: each measures its baseline in the same run."""
