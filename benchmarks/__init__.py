"""Benchmarks of anylambda against AWS's Runtime Interface Emulator (RIE): ``make bench``.

Run ``python -m benchmarks --help`` from the repository root; docs/performance.md
describes the method and holds the latest results.
"""
