"""Seeded work on torch's global random generator, one thread at a time.

torch has one default CPU generator per process. A ``fit`` seeds it and draws
from it (initialisation, shuffling, dropout, flips) inside
``torch.random.fork_rng``, which saves the generator's state and restores it on
exit. Two such blocks in two threads of one process (a dask worker with several
threads, joblib's threading backend) draw from each other's stream and restore
each other's state: neither result is reproducible. :func:`seeded` takes a
process-wide lock first, so they take turns and each gets the numbers its seed
gives.
"""

import contextlib
import threading

#: Held while a thread uses the global generator in a seeded block. Reentrant:
#: a fit builds its backbone in a seeded block of its own.
_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded(seed=None):
    """Use torch's global CPU generator alone, seeded, and restore it after.

    Parameters
    ----------
    seed : int or None, default=None
        Seed for the block; None keeps the generator's current state (a block
        whose draws are thrown away, such as building a model whose weights
        are loaded next).

    Examples
    --------
    >>> import torch
    >>> from artmedium._seeded import seeded
    >>> with seeded(0):
    ...     a = torch.rand(2)
    >>> with seeded(0):
    ...     b = torch.rand(2)
    >>> bool((a == b).all())
    True
    """
    import torch

    with _LOCK, torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        yield
