"""Fixtures of :mod:`anylambda.testing` for the plugin tests.

pytest refuses ``pytest_plugins`` outside the root ``conftest.py``, so the
fixtures are imported here instead.
"""

from anylambda.testing import fake_config, fake_handlers, fake_runtime

__all__ = ["fake_config", "fake_handlers", "fake_runtime"]
