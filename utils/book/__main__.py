"""``python -m utils.book <command> [NN ...]``: the book, the slides, the student copies and the timing report.

- ``run``: execute every ``notebooks/NN_*.ipynb`` in order in a fresh kernel (full mode) into ``build/``
  (executed ``.ipynb`` + one HTML page each with previous/contents/next links) and write
  ``build/index.html``, the curriculum map, with the runtimes just measured. Never writes tracked files, unless
  ``--record`` (``make run RECORD=1``) asks it to store every cell's full-mode time in ``notebooks/timings.json``.
  ``--jobs 2`` (``make run JOBS=2``) executes two notebooks at a time, each kernel on one thread.
- ``adopt``: for maintainers, after ``make run``: copy the executed notebooks from ``build/`` over the committed
  ones (tagged, volatile metadata stripped), so that one full run refreshes the book and the notebooks.
- ``build``: the same pages from the committed (already executed) notebooks, without executing anything,
  with the runtimes stored in ``notebooks/timings.json``; seconds instead of minutes (the browser test uses it).
- ``refresh``: re-execute notebooks in place in full mode, tag their cells (slides, solutions, training),
  store their per-cell timings, strip volatile metadata. For maintainers.
- ``tag``: only set the cell metadata from the notebooks' structure (no execution).
- ``student``: learner copies in ``build/student/``: solution cells removed, outputs cleared.
- ``slides``: reveal.js slides in ``build/slides/``, served from a local reveal.js (npm), no CDN.
- ``present-list``: print the notebooks that present mode or a cache can change (``make test``'s second pass).
- ``timings``: execute every notebook in full mode (with and without bf16: ``fp32``) and smoke mode, store per-cell
  times and the machine, print the report with the notebooks over budget
  (``timings --report`` prints the stored report without executing).
"""

from __future__ import annotations

import argparse
import sys

from utils.book import timings
from utils.book.pages import build
from utils.book.workflows import adopt, measure_timings, present_list, refresh, run, slides, student, tag
from utils.environment import configure

COMMANDS = {
    "run": run,
    "build": build,
    "refresh": refresh,
    "adopt": adopt,
    "tag": tag,
    "student": student,
    "slides": slides,
    "timings": measure_timings,
    "present-list": present_list,
}


def main(argv: list[str] | None = None) -> int:
    configure()
    parser = argparse.ArgumentParser(prog="python -m utils.book")
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("notebooks", nargs="*", help="notebook numbers, e.g. 00 03 (default: all)")
    parser.add_argument("--report", action="store_true", help="timings: print the stored report, execute nothing")
    parser.add_argument(
        "--mode",
        choices=list(timings.MODES),
        help="timings: measure one mode only (fp32: full mode, LLM_RETREAT_BF16=0)",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="run: also store per-cell full-mode times in notebooks/timings.json (maintainers)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="run: notebooks executed at a time, each kernel on one thread (make run JOBS=2)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "timings":
            if args.report:
                print(timings.format_report(timings.load(), no_autocast=timings.notebooks_without_autocast()))
                return 0
            failures = measure_timings(args.notebooks, (args.mode,) if args.mode else timings.MODES)
        elif args.command == "run":
            failures = run(args.notebooks, record=args.record, jobs=args.jobs)
        else:
            failures = COMMANDS[args.command](args.notebooks)
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
