"""Plan: what a use case needs.

Capability selection with its reasons (selection.py, rules.py), the resolved per-environment plan
(resolve.py) and the checks of a resolved plan against Google's rules (gcp_facts.py, regions.py). It may
import config, facts and core; tierstack.modules only through the registry lookups pyproject.toml lists.
"""
