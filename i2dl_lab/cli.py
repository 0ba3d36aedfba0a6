"""The ``i2dl-lab`` command: a thin layer over importable functions.

    i2dl-lab list                       labs with their titles
    i2dl-lab run [LAB ...] [-p N V]     execute labs headlessly (papermill) + summary table
    i2dl-lab lab                        start JupyterLab on the labs folder
    i2dl-lab release|submit|grade|grades   the autograder (see ``i2dl-lab grade --help``)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from . import __version__
from .runner import LabNotFound, default_labs_dir, discover_labs, format_summary, parse_value, run_labs, select_labs


def _cmd_list(args) -> int:
    labs = discover_labs(args.labs_dir)
    if not labs:
        print(f"no labs in {args.labs_dir or default_labs_dir()}")
        return 1
    width = max(len(lab.name) for lab in labs)
    for lab in labs:
        print(f"{lab.name.ljust(width)}  {lab.title}")
    return 0


def _cmd_run(args) -> int:
    labs = select_labs(discover_labs(args.labs_dir), args.labs)
    params = {name: parse_value(value) for name, value in (args.parameters or [])}
    print(f"running {len(labs)} lab(s) headlessly into {args.out}/" + (f" with {params}" if params else ""))
    results = run_labs(labs, out_dir=args.out, parameters=params, kernel_name=args.kernel, timeout=args.timeout)
    print()
    print(format_summary(results))
    return 0 if all(r.ok for r in results) else 1


def _cmd_lab(args) -> int:
    labs_dir = Path(args.labs_dir) if args.labs_dir else default_labs_dir()
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={labs_dir}", *args.jupyter_args]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in cmd:
        cmd.append("--allow-root")  # containers and CI machines often run as root
    print("starting:", " ".join(cmd))
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="i2dl-lab",
        description="i2dl-lab: run, teach and grade a deep-learning course from JupyterLab notebooks.",
    )
    parser.add_argument("--version", action="version", version=f"i2dl-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list the labs with their titles")
    p.add_argument("--labs-dir", help="folder with the NN_topic.ipynb notebooks (default: the course's labs/)")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser(
        "run", help="execute labs headlessly with papermill and print a summary table",
        description="Execute labs (all by default) with papermill into --out and print lab, status, "
                    "seconds and headline metric. Exits 1 if any lab fails.",
        epilog="example: i2dl-lab run 05 06 -p EPOCHS 30 -p SEED 1",
    )
    p.add_argument("labs", nargs="*", metavar="LAB", help="lab number (04) or name (04_optimizers); default all")
    p.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="set a value in the notebooks' parameters cell (repeatable)")
    p.add_argument("--out", default="build/labs", help="where executed notebooks go (default build/labs)")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3)")
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed per cell (default 600)")
    p.add_argument("--labs-dir", help="folder with the notebooks (default: the course's labs/)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("lab", help="start JupyterLab on the labs folder",
                       description="Start JupyterLab with the labs folder as its root. Extra arguments after "
                                   "-- go to jupyter lab, e.g. i2dl-lab lab -- --port 8890 --no-browser")
    p.add_argument("--labs-dir", help="folder with the notebooks (default: the course's labs/)")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="arguments passed on to jupyter lab")
    p.set_defaults(func=_cmd_lab)

    try:
        from .grading.cli import register
    except ModuleNotFoundError as exc:  # the grader's CLI module is optional only while it is being built
        if exc.name != "i2dl_lab.grading.cli":
            raise
    else:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "jupyter_args", None) and args.jupyter_args[0] == "--":
        args.jupyter_args = args.jupyter_args[1:]
    try:
        return int(args.func(args) or 0)
    except (LabNotFound, FileNotFoundError) as exc:
        print(f"i2dl-lab: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
