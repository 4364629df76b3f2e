"""A Dask cluster on this machine, reachable from this machine only."""

__all__ = ["local_cluster"]


def local_cluster(n_workers, **options):
    """A ``distributed.LocalCluster`` of worker processes of one thread each,
    listening on 127.0.0.1 only, without a dashboard.

    What ``artmedium predict --scheduler local[:N]`` starts. One thread per
    worker process is the layout the estimators want (fits in threads of one
    process take turns on torch's random generator; see :doc:`/dask`).

    Parameters
    ----------
    n_workers : int
        Worker processes.
    **options
        Passed to ``distributed.LocalCluster``, overriding the defaults above
        (e.g. ``env={"OMP_NUM_THREADS": "1"}``, ``silence_logs=logging.ERROR``).

    Returns
    -------
    distributed.LocalCluster
        Close it (or use it as a context manager) when done.

    Examples
    --------
    >>> from distributed import Client
    >>> from artmedium.dask import local_cluster
    >>> with local_cluster(1) as cluster, Client(cluster) as client:
    ...     client.submit(sum, [1, 2]).result()
    3
    """
    from artmedium.dask._predict import _MISSING

    try:
        import distributed
    except ImportError as exc:
        raise ImportError(f"{_MISSING} ({exc})") from exc
    settings = {
        "n_workers": n_workers,
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        # No dashboard; the scheduler's HTTP endpoint still listens, so on a
        # free loopback port (the default, 8787, may be taken).
        "dashboard_address": None,
        "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
    }
    settings.update(options)
    return distributed.LocalCluster(**settings)
