"""Measurements that take longer than the test suite: `make broadcast-scale` (and later `make bench`)."""
