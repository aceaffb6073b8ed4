"""``python -m initscope`` runs the ``initscope`` command."""

import sys

from .cli import main

sys.exit(main())
