"""Benchmarking agents on shopping tasks: ``prgym eval`` (runner, reference policies) and frozen suites."""
