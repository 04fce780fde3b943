"""`python -m prodtags`: the `prodtags` command line of prodtags.cli (nbs/08_cli.ipynb).

Written by hand, not exported: nbdev writes one module per notebook, and this file only starts that command line.
"""
import sys

from prodtags.cli import main

if __name__ == "__main__":
    sys.exit(main())
