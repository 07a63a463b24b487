"""Errors raised for bad input.

Every problem with a user's file is an :class:`InputError` that names the file, the field
(a dotted path inside the file), what was found and what is allowed. The command line prints
it as one line and exits with status 2.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: a file or value the user gave that carbonsim cannot accept.

    Parameters
    ----------
    message : str
        What is wrong and what is allowed.
    file : str, optional
        The file the problem is in.
    field : str, optional
        Dotted path of the field inside the file (``host.dram.gb``).
    """

    def __init__(self, message: str, file: str | None = None, field: str | None = None):
        self.message = message
        self.file = None if file is None else str(file)
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ": ".join(p for p in (self.file, self.field) if p)
        return f"{where}: {self.message}" if where else self.message

    def for_cli(self) -> str:
        """The one line the command line prints."""
        return str(self)


class OptionError(InputError):
    """A bad value given as a command-line option or a keyword argument of the Python API.

    ``str()`` names the argument as Python sees it (``pue: ...``); :meth:`for_cli` names the
    option (``--pue: ...``).
    """

    def __init__(self, message: str, option: str):
        self.option = option
        super().__init__(message, field=option)

    def for_cli(self) -> str:
        return f"--{self.option.replace('_', '-')}: {self.message}"

    def __reduce__(self):  # rebuilt from its two arguments (a Dask worker's error reaches the client whole)
        return type(self), (self.message, self.option)


class NoFeasibleAnswer(InputError):
    """A valid question with no answer that meets its constraints (no point of a sweep is
    feasible). Not bad input: the command line exits with :attr:`EXIT_CODE` (3) instead of 2, with
    one line that says what to change. (An :class:`InputError` for the Python API's callers, who
    caught that before.)"""

    EXIT_CODE = 3


class InputErrors(InputError):
    """Several input problems found at once (``carbonsim db check`` reports all of them)."""

    def __init__(self, errors: list[InputError]):
        self.errors = list(errors)
        first = self.errors[0] if self.errors else InputError("no errors")
        more = len(self.errors) - 1
        msg = str(first) + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
        super().__init__(msg)

    def __str__(self) -> str:  # one line: the first problem and a count
        return self.message




class CarbonsimWarning(UserWarning):
    """Something the user should know about an answer that is still given (Python's
    :mod:`warnings`; the command line prints each as one ``carbonsim: warning:`` line on stderr,
    ``-q`` silences them)."""


class PlausibilityWarning(CarbonsimWarning):
    """A value that passed its check but lies far outside what the database holds or what the
    model was built for (a server with a billion GPUs, a request rate that makes one request
    weigh tonnes, a power curve that falls with load). The message names the field and the range."""


class CleanupWarning(CarbonsimWarning):
    """carbonsim removed a stale temporary file or folder an earlier run left behind."""
