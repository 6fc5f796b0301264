"""`python -m evaluation_service …`: every command starts from the composition root."""

import sys

from evaluation_service.root.cli import main

if __name__ == "__main__":
    sys.exit(main())
