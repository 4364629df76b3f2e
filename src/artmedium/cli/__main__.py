"""``python -m artmedium.cli``: the same commands as the ``artmedium`` script."""

from artmedium.cli import main

if __name__ == "__main__":  # pragma: no cover
    main(prog_name="artmedium")
