"""Capabilities defined outside tierstack, as a team's own package would (tests/test_new_capability.py)."""
