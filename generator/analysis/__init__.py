"""Analysis: what a plan, a change or a live project means, computed and rendered for a person.

One subpackage per command family (review here; diff, cost and verify are to follow), each split into
reading its input, its model and its renderings. It may import generator's core (errors, file I/O),
its facts (resource types, prices) and other analyses; never the CLI (click), never cdktn.
"""
