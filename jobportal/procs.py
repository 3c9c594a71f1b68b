"""Process helpers for the commands that start child processes (serve, worker pools)."""

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig=signal.SIGTERM):
    """``preexec_fn``: the child gets ``sig`` when its parent dies, even by SIGKILL (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
