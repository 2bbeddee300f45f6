"""The environment for a Python child process that imports this npseq2seq."""

import os

__all__ = ["child_environment"]


def child_environment(**settings):
    """os.environ with `settings` added and the folder that holds this npseq2seq first
    on PYTHONPATH, so that sys.executable started with it imports this same copy
    (also when the parent found it on a sys.path of its own making)."""
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, **settings)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return env
