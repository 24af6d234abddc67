"""The one base of every error a user can fix by changing the input (a file, an image, a spec, a config).

Each such error names the input in one line; the command line prints that line and exits with status 2,
never a traceback. Errors keep their usual base too (ValueError, RuntimeError) for callers of the library.
"""


class InputError(Exception):
    """Bad input, described in one line that names it."""
