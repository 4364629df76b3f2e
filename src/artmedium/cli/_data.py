"""Loading a command's labelled DATA (a Tate folder or a CSV), errors in one line."""

import click


def load_data_or_exit(data, *, classes, max_images, seed, group_by=None):
    """:func:`artmedium.datasets.load_labelled_images`, or a one-line error.

    A ``group_by`` column that DATA does not have is a usage error (exit 2)
    naming the columns it has; anything else wrong with DATA is an error (exit 1).
    """
    from artmedium.datasets import load_labelled_images

    try:
        return load_labelled_images(
            data, classes=classes, max_images=max_images, seed=seed, group_by=group_by
        )
    except ValueError as exc:  # the message names the file
        if isinstance(exc, LookupError):  # no such --group-by column
            raise click.BadParameter(str(exc), param_hint="'--group-by'") from exc
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot read {data}: {exc}") from exc
