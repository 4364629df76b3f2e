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
        count = torch.cuda.device_count()
        info["gpu"] = ", ".join(torch.cuda.get_device_name(i) for i in range(count))
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


@main.command("fetch-tate")
@click.option(
    "--data-home",
    type=click.Path(file_okay=False),
    default=None,
    help="Tate folder [default: $ARTMEDIUM_DATA/tate or scikit-learn's data home].",
)
@click.option(
    "--classes",
    type=click.Choice(["poster", "all"]),
    default="poster",
    show_default=True,
    help="The poster's ten mediums, or every medium.",
)
@click.option(
    "--max-images",
    type=click.IntRange(min=1),
    default=None,
    help="Download at most this many thumbnails.",
)
@click.option(
    "--n-jobs",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Concurrent downloads.",
)
@click.option(
    "--url-prefix",
    default=None,
    help="Replace scheme and host of thumbnail URLs (a mirror).",
)
@click.option("--metadata-url", default=None, help="Where to get artwork_data.csv.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def fetch_tate_command(
    data_home, classes, max_images, n_jobs, url_prefix, metadata_url, quiet
):
    """Download Tate's metadata and thumbnails (resumable; exit 1 if any failed).

    \b
    Example:
      artmedium fetch-tate --max-images 500 --n-jobs 8
    """
    from artmedium.datasets import TATE_METADATA_URL
    from artmedium.datasets import fetch_tate as fetch

    try:
        result = fetch(
            data_home=data_home,
            classes=None if classes == "all" else classes,
            max_images=max_images,
            n_jobs=n_jobs,
            url_prefix=url_prefix,
            metadata_url=metadata_url or TATE_METADATA_URL,
            verbose=0 if quiet else 1,
        )
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.summary())
    if not result.ok:
        raise click.ClickException(f"{len(result.failed)} thumbnail(s) failed")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
