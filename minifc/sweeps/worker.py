"""``python -m minifc.sweeps.worker SWEEP [--threads T]``: one worker process of a local sweep (started by
``minifc sweep --workers N``); it runs trials until the sweep's total is reached."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import MinifcError
from .settings import read_settings
from .workers import work


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minifc.sweeps.worker")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--index", type=int, default=1, help="this worker's index (its sampler's seed offset)")
    args = parser.parse_args(argv)
    try:
        work(args.folder, read_settings(args.folder), args.threads, worker=args.index)
    except KeyboardInterrupt:
        return 130
    except MinifcError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
