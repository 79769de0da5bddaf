"""End-to-end tests: the real generated services as subprocesses, real clients, a fake upstream."""
