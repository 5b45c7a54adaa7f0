"""`python -m sandbox serve`: see sandbox/serve.py."""

import sys

from sandbox.serve import main

sys.exit(main())
