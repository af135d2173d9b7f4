"""``sipdash import training FILE.csv`` (kept out of cli.py, which many hands edit)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

EXIT_OK, EXIT_FAIL = 0, 1


def import_training(
    args: argparse.Namespace, open_store: Callable, cli_error: type[Exception]
) -> int:
    """Import a training CSV all or nothing; exit 1 naming every bad row and column."""
    from audit import imports
    from audit.identifiers import mask_digit_runs
    from audit.imports import ImportRefused
    from audit.training_imports import TrainingImporter
    from audit.wording import counted

    store, projector = open_store(args.db)
    path = Path(args.file)
    name = mask_digit_runs(path.name)
    try:
        if path.stat().st_size > imports.MAX_BYTES:
            print(
                f"sipdash: import refused, nothing was appended:\n{imports.too_large(name)}",
                file=sys.stderr,
            )
            return EXIT_FAIL
        data = path.read_bytes()
    except OSError as exc:
        raise cli_error(f"cannot read {path}: {exc.strerror}") from None
    try:
        result = TrainingImporter(store, projector=projector).import_training(data, source=name)
    except ImportRefused as exc:
        print(f"sipdash: import refused, nothing was appended:\n{exc}", file=sys.stderr)
        return EXIT_FAIL
    print(
        f"imported {counted(result.rows, 'row')} from {name}: "
        f"{counted(result.appended, 'event')} appended, "
        f"{result.skipped} already present"
    )
    return EXIT_OK
