"""``python -m carbonsim ARGS``: the ``carbonsim`` command line (:mod:`carbonsim.cli`)."""

import sys

from carbonsim.cli import main

if __name__ == "__main__":  # pragma: no branch
    sys.exit(main(prog_name="carbonsim"))
