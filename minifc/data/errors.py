""":class:`DataError`, and the advice on how to provide CIFAR-10 that several of its messages end with.

The advice names the way a caller chooses the data folder. The library names ``load_cifar10(root=...)``; a command
line names its own option instead (``DataError.message(option="--data")``), so that the user is told what to type.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MinifcError
from .layout import BATCHES_DIR, default_root

VISION_HINT = "pip install 'minifc[vision]'"
"""How to install the optional dependencies of the image-folder source and of the download (torchvision)."""

# Where the root folder came from (DataNotFoundError.origin).
ROOT_ARGUMENT, ROOT_ENVIRONMENT, ROOT_DEFAULT = "argument", "environment", "default"


class DataError(MinifcError, FileNotFoundError):
    """A dataset is missing, malformed or cannot be read; the message says where minifc looked and what to do.

    ``str(error)`` is the message for a caller of :func:`~minifc.data.load_cifar10`; :meth:`message` phrases it for
    a command line.
    """

    def __init__(self, problem: str, *, advice: bool = False) -> None:
        super().__init__(problem)
        self.problem = problem
        """What is wrong, without the advice."""
        self.advice = advice
        """Whether the message ends with how to provide CIFAR-10."""

    def __str__(self) -> str:
        return self.message()

    def message(self, option: str | None = None) -> str:
        """The message. With ``option`` (e.g. ``"--data"``), it names that command-line option where it would name
        the ``root=`` argument: for a command that passes its option's value as ``root``."""
        text = self.describe(option)
        return f"{text}\n{how_to_provide(option)}" if self.advice else text

    def describe(self, option: str | None = None) -> str:
        """The problem part of :meth:`message`."""
        return self.problem


class DataNotFoundError(DataError):
    """No dataset in any layout minifc reads was found at the root folder (nor could it be downloaded)."""

    def __init__(self, root: Path, origin: str, tried: list[str]) -> None:
        self.root = root
        """The root folder that was searched."""
        self.origin = origin
        """Where the root came from: :data:`ROOT_ARGUMENT`, :data:`ROOT_ENVIRONMENT` or :data:`ROOT_DEFAULT`."""
        self.tried = list(tried)
        """One line per place looked at (or download attempted), and what was there."""
        super().__init__(self.describe(), advice=True)

    def describe(self, option: str | None = None) -> str:
        lines = "\n".join(f"  - {t}" for t in self.tried)
        return f"no CIFAR-10 found at {self.root} ({_origin_phrase(self.origin, option)}). Looked in:\n{lines}"


def _origin_phrase(origin: str, option: str | None) -> str:
    if origin == ROOT_ARGUMENT:
        return f"given by the {option} option" if option else "given by the root= argument"
    if origin == ROOT_ENVIRONMENT:
        return "given by the environment variable MINIFC_DATA"
    given = f"neither {option}" if option else "neither root="
    return f"the default root, as {given} nor MINIFC_DATA was given"


def how_to_provide(option: str | None = None) -> str:
    """The ways to provide CIFAR-10, naming ``option`` (a command-line option) instead of ``root=`` when given."""
    folder = (
        f"a folder that holds {BATCHES_DIR}/ (the python version of CIFAR-10), or train/ and test/ folders with "
        "one subfolder of images per class (10 classes)"
    )
    if option:
        pass_it, neither = f"pass such a folder as {option} FOLDER", f"neither {option}"
    else:
        pass_it, neither = "pass such a folder as load_cifar10(root=...)", "neither root="
    return (
        "To provide CIFAR-10, do one of:\n"
        f"  - set the environment variable MINIFC_DATA to {folder};\n"
        f"  - {pass_it};\n"
        f"  - run once with internet access, with {neither} nor MINIFC_DATA, to download it into {default_root()} "
        f"(needs torchvision: {VISION_HINT})."
    )


def first_line(e: BaseException) -> str:
    """The first line of an exception's message, for quoting it inside a DataError."""
    text = str(e).strip()
    return text.splitlines()[0] if text else "no message"
