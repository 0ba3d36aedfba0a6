"""The ``i2dl-lab`` command: a thin layer over importable functions.

    i2dl-lab list                       labs with their titles
    i2dl-lab run [LAB ...] [-p N V]     execute labs headlessly (papermill) + summary table
    i2dl-lab init DIR                   make (or update) a student workspace from the release
    i2dl-lab lab [DIR] [--solutions]    start JupyterLab on a workspace (or the solutions)
    i2dl-lab release|submit|grade|grades   the autograder (see ``i2dl-lab grade --help``)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from . import __version__
from .runner import (
    LabNotFound,
    ParameterError,
    default_labs_dir,
    discover_labs,
    format_summary,
    lab_parameters,
    run_labs,
    select_labs,
)
from .workspace import WorkspaceError


def _cmd_list(args) -> int:
    labs = discover_labs(args.labs_dir)
    if not labs:
        print(f"no labs in {args.labs_dir or default_labs_dir()}")
        return 1
    width = max(len(lab.name) for lab in labs)
    for lab in labs:
        print(f"{lab.name.ljust(width)}  {lab.title}")
    return 0


def _yaml_parameters(args) -> dict:
    """``-f FILE`` then ``-y YAML`` mappings, as papermill reads them (later ones win)."""
    import yaml

    out: dict = {}
    sources = [(f, Path(f).read_text(encoding="utf-8")) for f in args.parameters_file or []]
    sources += [("-y", text) for text in args.parameters_yaml or []]
    for origin, text in sources:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ParameterError(f"{origin}: not valid YAML ({exc})") from None
        if data is None:
            continue
        if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
            raise ParameterError(f"{origin}: expected a YAML mapping NAME: VALUE, got {text!r}")
        out.update(data)
    return out


def _non_negative_int(text: str) -> int:
    """argparse type: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def _cmd_run(args) -> int:
    labs = select_labs(discover_labs(args.labs_dir), args.labs)
    params = _yaml_parameters(args)
    params.update({name: value for name, value in (args.parameters or [])})
    for lab in labs:  # a misspelt name or a bad value stops here, before anything runs
        lab_parameters(lab, params)
    print(f"running {len(labs)} lab(s) headlessly into {args.out}/" + (f" with {params}" if params else ""))
    results = run_labs(labs, out_dir=args.out, parameters=params, kernel_name=args.kernel, timeout=args.timeout,
                       threads=args.threads or None)
    print()
    print(format_summary(results))
    return 0 if all(r.ok for r in results) else 1


def _cmd_init(args) -> int:
    from .workspace import init_workspace

    updates = init_workspace(args.dir)
    for upd in updates:
        print(upd.line())
    conflicts = [u for u in updates if u.action in ("conflict", "kept")]
    print(f"workspace {args.dir}: {len(updates)} labs" + (f", {len(conflicts)} with conflicts (your version kept)"
                                                          if conflicts else ""))
    return 0


DEFAULT_WORKSPACE = "i2dl-workspace"


def _cmd_lab(args) -> int:
    from .course import checkout_root
    from .workspace import find_workspace, init_workspace, lab_command

    if args.solutions:
        root = checkout_root()
        if root is None:
            print("i2dl-lab lab: error: --solutions needs the course's source checkout (the solution notebooks "
                  "are not part of the installed release)", file=sys.stderr)
            return 2
        folder, state = root / "labs", root / "build" / "jupyter"
    else:
        folder = Path(args.dir) if args.dir else (find_workspace(Path.cwd()) or Path(DEFAULT_WORKSPACE))
        if find_workspace(folder) is None:
            print(f"no workspace in {folder}: making one (i2dl-lab init {folder})")
            for upd in init_workspace(folder):
                print("  " + upd.line())
        state = folder / ".i2dl" / "jupyter"
    cmd, env = lab_command(folder, state, args.jupyter_args)
    print("starting:", " ".join(cmd))
    try:
        return subprocess.call(cmd, env=env, cwd=folder)  # terminals open where the server runs
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
        epilog="example: i2dl-lab run 05 06 -p EPOCHS 30 -p SEED 1. A name the lab's parameters cell does not "
               "define is an error that lists the ones it does.",
    )
    p.add_argument("labs", nargs="*", metavar="LAB", help="lab number (04) or name (04_optimizers); default all")
    p.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="set a value in the notebooks' parameters cell (repeatable); typed like its default")
    p.add_argument("-y", "--parameters-yaml", action="append", metavar="YAML",
                   help='parameters as a YAML mapping, for lists and other structured values: -y "WIDTHS: [16, 32]"')
    p.add_argument("-f", "--parameters-file", action="append", metavar="FILE", help="parameters from a YAML file")
    p.add_argument("--out", default="build/labs", help="where executed notebooks go (default build/labs)")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3)")
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed per cell (default 600)")
    p.add_argument("--threads", type=_non_negative_int, default=1, metavar="N",
                   help="threads per BLAS/OpenMP pool in each lab's kernel (default 1; 0: leave the environment's)")
    p.add_argument("--labs-dir", help="folder with the notebooks (default: the course's labs/)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("init", help="make a student workspace from the release, or bring one up to date",
                       description="Copy the released notebooks into DIR. Run again after a course update, it adds "
                                   "new labs and cells and updates the cells you did not change; a cell you changed "
                                   "is never overwritten (a conflict is reported and the course's version is put in "
                                   "DIR/.i2dl/incoming/).")
    p.add_argument("dir", metavar="DIR", help="the workspace folder (created if missing)")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("lab", help="start JupyterLab on a student workspace (or, --solutions, the solutions)",
                       description="Start JupyterLab on the workspace DIR (default: the workspace you are in, else "
                                   f"./{DEFAULT_WORKSPACE}, made if missing). Extra arguments after -- go to jupyter "
                                   "lab, e.g. i2dl-lab lab -- --port 8890 --no-browser")
    p.add_argument("dir", metavar="DIR", nargs="?", help="the workspace folder")
    p.add_argument("--solutions", action="store_true",
                   help="instructors: open the solution notebooks of the source checkout instead")
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
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough = None
    if "--" in argv:  # everything after -- goes to jupyter lab untouched
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if passthrough is not None:
        if not hasattr(args, "jupyter_args"):
            parser.error(f"{args.command} takes no arguments after --")
        args.jupyter_args = [*args.jupyter_args, *passthrough]
    try:
        return int(args.func(args) or 0)
    except (LabNotFound, ParameterError, WorkspaceError, FileNotFoundError) as exc:
        print(f"i2dl-lab: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
