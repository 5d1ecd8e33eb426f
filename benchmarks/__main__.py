"""``python -m benchmarks [--json] [--only GROUP ...] [--quick]``."""

from __future__ import annotations

import argparse
import compileall
import importlib
import json
import pkgutil
import sys
from pathlib import Path

from benchmarks._harness import Measurement, as_json, registered, render_table


def _load_groups() -> None:
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not module.name.startswith("_"):
            importlib.import_module(f"benchmarks.{module.name}")


def _compile_packages() -> None:
    """Byte-compile sa3p's packages as ``pip install`` does, so that the processes the
    benchmarks start load cached bytecode even where ``PYTHONDONTWRITEBYTECODE`` is set (an
    editable install otherwise recompiles every module at every start)."""

    for name in ("sa3p_engine", "sa3p_host", "sa3p_parser", "sa3p_protocol"):
        for directory in importlib.import_module(name).__path__:
            compileall.compile_dir(directory, quiet=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    parser.add_argument("--only", action="append", default=[], metavar="GROUP")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, fewer repeats")
    options = parser.parse_args(argv)
    _compile_packages()
    _load_groups()
    groups = registered()
    unknown = [name for name in options.only if name not in groups]
    if unknown:
        parser.error(f"unknown group(s) {unknown}; known: {sorted(groups)}")
    rows: list[Measurement] = []
    for group in sorted(groups):
        if options.only and group not in options.only:
            continue
        for name, function in groups[group]:
            print(f"running {group}.{name} ...", file=sys.stderr, flush=True)
            for row in function(options.quick):
                rows.append(row)
                if options.json:
                    print(json.dumps(as_json(row)), flush=True)
    if not options.json:
        print(render_table(rows))
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
