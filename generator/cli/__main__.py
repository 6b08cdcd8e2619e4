"""`python -m tierstack.generator.cli`: the `tierstack` command, as the console script runs it."""

import sys

from tierstack.generator.cli import main

sys.exit(main())
