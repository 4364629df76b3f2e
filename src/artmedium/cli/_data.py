"""Loading a command's labelled DATA (a Tate folder or a CSV), errors in one line."""

import click


def load_data_or_exit(data, *, classes, max_images, seed):
    """:func:`artmedium.datasets.load_labelled_images`, or a one-line error."""
    from artmedium.datasets import load_labelled_images

    try:
        return load_labelled_images(
            data, classes=classes, max_images=max_images, seed=seed
        )
    except ValueError as exc:  # the message names the file
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot read {data}: {exc}") from exc
