"""What the command-line tests share: running carbonsim in-process, and the shape of an input error."""

import re

from click.testing import CliRunner

from carbonsim.cli import main


def run(*args):
    """``carbonsim ARGS...`` in this process (arguments may be numbers or paths)."""
    return CliRunner().invoke(main, [str(a) for a in args])


#: Progress lines a sweep may print before it fails (a piped stderr gets them; docs/cli.md).
PROGRESS = re.compile(r"^carbonsim: (compiling kernels|[\d,]+/[\d,]+ (points|servers) \()")


def _not_progress(line: str) -> bool:
    return not PROGRESS.match(line)


def one_line_exit_2(r, *words, code=2):
    """Bad input: exit code 2 and one line on stderr (besides progress lines), no traceback,
    containing each of ``words`` (``code=3``: a valid question without a feasible answer)."""
    assert r.exit_code == code, r.output
    assert len([x for x in r.stderr.strip().splitlines() if _not_progress(x)]) == 1, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    for w in words:
        assert w in r.stderr, r.stderr
