"""The command for a Python child process that imports this npseq2seq."""

import os
import sys

__all__ = ["python_command"]


def python_command(code, *args):
    """[python, "-c", code, *args]: sys.executable running `code` with the folder that
    holds this npseq2seq first on its sys.path, so that the child imports this same
    copy. `python -c` puts "" (the working folder) first: an npseq2seq folder there
    (a checkout of another version, say) would be imported instead, and a worker
    of another version does not speak this one's protocol. And this copy may be on
    no path the child would have (a parent's sys.path of its own making)."""
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {package_root!r}); {code}",
            *args]
