"""Benchmarks, run by `make bench`. Each reports ratios against a baseline from the same run."""
