"""The ``artmedium`` command line: thin click commands over the library.

Errors exit with status 1 (:class:`click.ClickException`), usage errors with 2.
"""

import platform
import sys

import click

from artmedium._version import __version__

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="artmedium")
def main():
    """Recognise the medium of an artwork from its image.

    \b
    Examples:
      artmedium info
      artmedium --version
    """


def environment_info():
    """Versions and compute resources that matter when reporting a problem.

    Returns
    -------
    dict
        Ordered ``name -> value`` pairs, all strings.

    Examples
    --------
    >>> info = environment_info()
    >>> info["artmedium"] == __version__
    True
    >>> sorted(k for k in info if k in ("torch", "scikit-learn"))
    ['scikit-learn', 'torch']
    """
    from importlib.metadata import PackageNotFoundError, version

    import torch

    info = {"artmedium": __version__, "python": platform.python_version()}
    for dist in ("torch", "torchvision", "scikit-learn", "skorch", "Pillow", "numpy"):
        try:
            info[dist] = version(dist)
        except PackageNotFoundError:
            info[dist] = "not installed"
    info["torch threads"] = str(torch.get_num_threads())
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["gpu"] = ", ".join(names)
    else:
        info["gpu"] = "none visible (running on CPU)"
    info["platform"] = platform.platform()
    return info


@main.command()
def info():
    """Print versions of artmedium and its stack, threads and GPU visibility.

    \b
    Example:
      artmedium info
    """
    items = environment_info()
    width = max(map(len, items))
    for key, value in items.items():
        click.echo(f"{key:<{width}}  {value}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
