"""The ``artmedium`` command line: thin click commands over the library.

Each command lives in its own module (``_predict.py`` for ``artmedium predict``,
...), imported only when that command runs or its help is shown (click's
"Complex Applications" lazy group), and every heavy import (torch, torchvision,
scikit-learn) happens inside the command that needs it, so ``artmedium --help``
and ``--version`` answer at once.

Exit status: 0 on success; 1 for an error (:class:`click.ClickException`) or,
in ``predict`` and ``saliency``, when any input could not be read (after every
result that could be written); 2 for a usage error, which includes naming a
file or folder that does not exist.
"""

import importlib

import click

from artmedium._version import __version__

__all__ = ["main"]

# Command name -> "module:function", loaded on first use.
COMMANDS = {
    "evaluate": "artmedium.cli._evaluate:evaluate",
    "fetch-tate": "artmedium.cli._fetch:fetch_tate_command",
    "info": "artmedium.cli._info:info",
    "predict": "artmedium.cli._predict:predict",
    "saliency": "artmedium.cli._saliency:saliency",
    "train": "artmedium.cli._train:train",
}


class LazyGroup(click.Group):
    """A group whose commands are imported from their modules when needed."""

    def __init__(self, *args, lazy_commands=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx, cmd_name):
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            module, name = self.lazy_commands[cmd_name].split(":")
            command = getattr(importlib.import_module(module), name)
            if not isinstance(command, click.Command):
                raise TypeError(f"{module}:{name} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "-V", "--version", prog_name="artmedium")
def main():
    """Recognise the medium of an artwork from its image.

    \b
    Examples:
      artmedium predict scans/
      artmedium predict "scans/**/*.jpg" --format csv --output media.csv
      artmedium train my_labels.csv --out my_model
      artmedium evaluate my_model test_labels.csv
      artmedium info

    Exit status: 0 on success, 1 on an error or when an input could not be
    read, 2 for a usage error (an unknown option, a path that does not exist).
    """
