"""Benchmarks for supportbot; `python -m bench` (or `make bench`) runs the web chat load bench."""
