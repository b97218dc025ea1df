"""Makes the shared fixtures of tests/conftest.py available to the top-level test_cancellation.py."""

from tests.conftest import *
