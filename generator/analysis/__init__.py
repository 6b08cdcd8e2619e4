"""Analysis: what a plan, a change or a live project means, computed and rendered for a person.

review/ (a Terraform plan), rollup/ (a fleet's cost and explain), verify/ (a live project against its
stacks), diff/ (two generations), cost/ and price_catalog.py (the estimate), the data-source and
golden-set checks. It may import output, synth's readers, plan, config, facts and core, and other analyses;
never the services or the CLI (click), never cdktn.
"""
