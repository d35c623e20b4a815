"""Simulators of upstream systems (real HTTP servers on loopback) for tests, benchmarks and
the demo. Never imported by production code paths."""
