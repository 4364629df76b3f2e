"""``artmedium fetch-tate``: download Tate's metadata and thumbnails."""

import click

from artmedium.cli._common import quiet_option


@click.command("fetch-tate")
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
@click.option(
    "--deadline",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds allowed per thumbnail, retries included [default: 120].",
)
@quiet_option
def fetch_tate_command(
    data_home, classes, max_images, n_jobs, url_prefix, metadata_url, deadline, quiet
):
    """Download Tate's metadata and thumbnails (resumable; exit 1 if any failed).

    Ctrl-C stops within about a second, prints what finished and exits 130; run the
    same command again to resume.

    \b
    Example:
      artmedium fetch-tate --max-images 500 --n-jobs 8
    """
    from artmedium.datasets import TATE_METADATA_URL, FetchInterrupted, fetch_tate

    try:
        result = fetch_tate(
            data_home=data_home,
            classes=None if classes == "all" else classes,
            max_images=max_images,
            n_jobs=n_jobs,
            url_prefix=url_prefix,
            metadata_url=metadata_url or TATE_METADATA_URL,
            deadline=deadline,
            verbose=0 if quiet else 1,
        )
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt as exc:
        if isinstance(exc, FetchInterrupted):
            click.echo(exc.result.summary())
        click.echo("Interrupted; run the same command again to resume.", err=True)
        click.get_current_context().exit(130)
    click.echo(result.summary())
    if not result.ok:
        raise click.ClickException(f"{len(result.failed)} thumbnail(s) failed")
