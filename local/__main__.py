"""`python -m local serve`: see local/serve.py."""

import sys

from local.serve import main

sys.exit(main())
