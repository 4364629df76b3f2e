"""How many CPUs this process may use."""

import os


def usable_cpus():
    """The CPUs this process may use: its affinity mask where the platform has
    one (a container or ``taskset`` may allow fewer than the machine has),
    else every CPU of the machine.

    Examples
    --------
    >>> from artmedium._cpus import usable_cpus
    >>> usable_cpus() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
