"""Fixtures of the inbound-path tests (shared in tests/dispatch/support.py)."""

from tests.dispatch.support import env_fixture

env = env_fixture()
