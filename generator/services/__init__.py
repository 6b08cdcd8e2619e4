"""Services: one path from a config or a fleet member to results, and the commands that act.

Generate, check, diff and validate a config or each member of a fleet (fleet.py, fleet_workers.py), what an
upstream release changes (upstream.py), forks (fork.py), apply and destroy through terraform (operate.py,
eventual.py), the state bucket (bootstrap.py). It may import every layer below it (analysis, output, synth,
plan, config, facts, core) and tierstack.modules; never the CLI (click and rich live in generator/cli/).
"""
