"""`python -m halab.cli`: the same as the `halab` command."""

import sys

from halab.cli.app import main

sys.exit(main())
