"""``python -m minifc ...`` is the ``minifc`` command (and what ``torchrun -m minifc`` starts per rank)."""

from .cli import main

main(prog_name="minifc")
