"""``python -m utils.course <command>``: the course machinery's command line (the Makefile calls it).

- ``kit``: fetch, verify and extract the offline kit, then prepare the datasets (``make kit``)
- ``standins [NAME ...] [--force]``: build the stand-ins of the current mode (``make standins``)
- ``course-models [NAME ...] [--force]``: build the course models of the current mode (``make course-models``)
- ``course-runs [NAME ...] [--force]``: build the course runs (results of longer training) of the current mode
  (``make course-models`` builds them too)
- ``list``: the stand-ins with their held-out metrics
- ``status``: every asset in the asset home, with sizes, sources and licences
"""

from __future__ import annotations

import signal
import sys

from utils.course import build, course_models, course_runs, kit, status

USAGE = "usage: python -m utils.course {kit | standins [NAME ...] [--force] | course-models [NAME ...] [--force] | course-runs [NAME ...] [--force] | list | status}"


def main(argv: list[str] | None = None) -> int:
    # a SIGTERM (a closed terminal, a CI timeout) unwinds like Ctrl-C, so scratch folders are removed on the way out
    signal.signal(signal.SIGTERM, kit.stop_cleanly)
    args = sys.argv[1:] if argv is None else argv
    command, rest = (args[0], args[1:]) if args else ("", [])
    if command == "kit" and not rest:
        return kit.main()
    if command == "standins":
        return build.main(["build", *rest])
    if command == "course-models":
        return course_models.main(rest)
    if command == "course-runs":
        return course_runs.main(rest)
    if command == "list" and not rest:
        return build.main(["list"])
    if command == "status" and not rest:
        return status.main()
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
