"""The grading subcommands of ``i2dl-lab``: release, submit, grade, grades.

``register(subparsers)`` adds them to an argparse subparsers object; each parser's
``func`` runs the command and returns an exit status. ``python -m i2dl_lab.grading`` runs
them on their own.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys


def _limits(args):
    from .sandbox import Limits

    lim = Limits()
    if args.timeout is not None:  # the instructor's clock for every exercise, not one derived from the reference
        lim.wall_per_exercise = lim.exercise_floor = args.timeout
    if args.submission_timeout is not None:
        lim.wall_per_submission = args.submission_timeout
    if args.memory_mb is not None:
        lim.memory_bytes = args.memory_mb * 2**20
    return lim


def cmd_release(args) -> int:
    from .release import release

    manifest = release(args.source, args.out, args.labs or None)
    for name, info in manifest["files"].items():
        print(f"released {name} (lab {info['lab']}, {info['solutions_removed']} solution blocks removed, "
              f"sha256 {info['sha256'][:12]})")
    print(f"manifest: {os.path.join(args.out, 'MANIFEST.json')}")
    return 0


def cmd_submit(args) -> int:
    from .submit import submit

    path = submit(args.notebook, out=args.out, student=args.student, lab=args.lab)
    print(f"submission written: {path}")
    return 0


def cmd_grade(args) -> int:
    from .batch import grade_batch
    from .grader import create_key_file, normalize_lab, resolve_lab, resolve_secret

    if args.dask:
        import importlib.util

        if importlib.util.find_spec("distributed") is None:
            print("i2dl-lab grade: error: --dask needs Dask's distributed scheduler, which is not installed; "
                  "install the extra: pip install 'i2dl-lab[dask]'", file=sys.stderr)
            return 2
    args.lab = normalize_lab(args.lab)
    if args.key_file and not os.path.exists(args.key_file):
        secret, origin = create_key_file(args.key_file)
        print(f"note: created the grading key {origin} (mode 600); keep it: regrading needs the same key",
              file=sys.stderr)
    else:
        secret, origin = resolve_secret(args.secret, args.key_file)
    if origin.startswith("default"):
        secret, origin = create_key_file()
        print(f"note: no grading secret was set; created the grading key {origin} (mode 600), so hidden inputs "
              "do not follow from public material; keep it: regrading needs the same key", file=sys.stderr)
    elif os.path.isfile(origin) and os.stat(origin).st_mode & (stat.S_IROTH | stat.S_IRGRP):
        print(f"warning: the key file {origin} is readable by other users; chmod 600 it", file=sys.stderr)
    cfg = resolve_lab(args.lab, spec=args.spec, source=args.source, secret=secret, limits=_limits(args))
    if os.path.isfile(origin):
        cfg.hide.append(origin)
    for note in cfg.notes:
        print(f"note: {note}", file=sys.stderr)
    summary = grade_batch(cfg, args.submissions, args.db, jobs=args.jobs, force=args.force,
                          feedback_dir=args.feedback, dask_address=args.dask)
    print(summary.line())
    return 0 if summary.errors == 0 else 1


def cmd_grades(args) -> int:
    from .gradebook import Gradebook
    from .protocol import safe_text

    with Gradebook(args.db) as book:
        if args.csv:
            n = book.export_csv(args.csv, args.lab, args.policy)
            print(f"wrote {n} rows to {args.csv}")
            return 0
        for r in book.latest(args.lab, args.policy):
            # everything printed passes safe_text: no terminal escape sequence from a submission reaches the screen
            line = (f"{safe_text(r['student'], 40):<24} lab {r['lab']}  {r['score']:7.2f} / {r['max_score']:<6g} "
                    f"{r['status']:<8} {r['submissions']} submission(s), {r['rejected']} rejected")
            if r["status"] != "graded":
                line += f"; {safe_text(r['message'], 160).splitlines()[0] if r['message'] else ''}"
            print(line)
    return 0


def _guard(cmd):
    """Plain one-line errors for bad input (wrong lab, unreadable notebook), whichever main runs us."""

    def run(args) -> int:
        from .sandbox import SandboxUnavailable

        try:
            return cmd(args)
        except (ValueError, FileNotFoundError) as exc:
            print(f"i2dl-lab {args.command}: error: {exc}", file=sys.stderr)
            return 2
        except SandboxUnavailable as exc:
            print(f"i2dl-lab {args.command}: error: {exc}. Nothing was graded: grade as root, or as a user "
                  "allowed to create user namespaces", file=sys.stderr)
            return 2

    run.__name__ = cmd.__name__
    return run


def register(subparsers) -> None:
    """Add release, submit, grade and grades to ``subparsers`` (from ``add_subparsers``)."""
    p = subparsers.add_parser("release", help="make student notebooks from the solution notebooks")
    p.add_argument("labs", nargs="*", metavar="LAB", help="lab numbers (default: every lab)")
    p.add_argument("--source", default="labs", help="folder of solution notebooks (default: labs)")
    p.add_argument("--out", required=True, help="folder for the student notebooks and MANIFEST.json")
    p.set_defaults(func=_guard(cmd_release), command="release")

    p = subparsers.add_parser("submit", help="pack a released notebook for hand-in (a zip under submissions/)")
    p.add_argument("notebook")
    p.add_argument("--out", default=None, help="folder for the zip (default: the workspace's submissions/, "
                   "else ./submissions)")
    p.add_argument("--student", default=None, help="your student id; needed once per workspace, which keeps it "
                   "(else $I2DL_STUDENT)")
    p.add_argument("--lab", default=None, help="lab id when the notebook does not carry one")
    p.set_defaults(func=_guard(cmd_submit), command="submit")

    p = subparsers.add_parser("grade", help="grade submissions (notebooks, zips or folders) into a gradebook")
    p.add_argument("lab", metavar="LAB")
    p.add_argument("submissions", nargs="+", metavar="SUBMISSION_OR_DIR")
    p.add_argument("--db", required=True, help="SQLite gradebook (created if missing)")
    p.add_argument("--jobs", type=int, default=1, help="grade N submissions in parallel local processes")
    p.add_argument("--dask", default=None, metavar="ADDRESS", help="grade on a Dask scheduler at ADDRESS")
    p.add_argument("--force", action="store_true", help="regrade submissions already in the gradebook")
    p.add_argument("--feedback", default=None, metavar="DIR", help="write one HTML report per submission")
    p.add_argument("--secret", default=None, help="grading secret (other users can read command lines: prefer "
                   "$I2DL_GRADING_SECRET or a key file)")
    p.add_argument("--key-file", default=None, help="file holding the grading secret "
                   "(default ~/.config/i2dl-lab/grading.key, or $I2DL_GRADING_KEY_FILE)")
    p.add_argument("--spec", default=None, help="grading spec module or .py path (default: the lab's spec)")
    p.add_argument("--source", default=None, help="folder of solution notebooks (for the quiz key)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds of wall clock per exercise (default: 1000 times what the reference needs on the "
                   "same cases, at least 3 and at most 10)")
    p.add_argument("--submission-timeout", type=float, default=None, help="seconds per submission (default 60)")
    p.add_argument("--memory-mb", type=int, default=None, help="address-space limit of the child (default 2048)")
    p.set_defaults(func=_guard(cmd_grade), command="grade")

    p = subparsers.add_parser("grades", help="show or export the gradebook")
    p.add_argument("--db", required=True)
    p.add_argument("--csv", default=None, metavar="FILE", help="write one row per student and lab")
    p.add_argument("--lab", default=None)
    p.add_argument("--policy", choices=["latest", "best"], default="latest",
                   help="which submission counts when a student handed in several (default: the latest)")
    p.set_defaults(func=_guard(cmd_grades), command="grades")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="i2dl-lab", description="i2dl-lab grading commands")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)
