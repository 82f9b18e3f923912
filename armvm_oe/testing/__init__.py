"""Real test inputs built from Debian's Arm packages: the one fixture builder
shared by the tests and benchmarks of verify, run/test and avh."""
