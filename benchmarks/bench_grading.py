"""Grading throughput: 100 submissions of lab 03 (backpropagation) with ``--jobs 2``.

The class is mixed like a real one: correct notebooks, partly done ones (released notebook
with some exercises filled in), wrong ones (a sign error), broken ones (corrupt JSON, an
empty notebook, one exercise looping forever). Each is a distinct notebook (a distinct
sha256), so nothing is skipped.

Prints the wall time and submissions per second, then, over the graded submissions that hit
no time limit, the median and 90th percentile of:

* **grading time**: the submission's share of the grading process's time, from its bytes to
  its result (what the gradebook stores as ``seconds``): preparing it, or with ``--jobs 1``
  waiting for its preparation ahead, then its children and scoring;
* **student code**: the time the submission's graded functions ran on the hidden cases,
  measured in the child around each call;
* **overhead**: grading time minus student code, i.e. everything the grader adds per
  submission: reading and checking the notebook (with ``--jobs 1`` done ahead, in a thread,
  while the previous submission's child runs: only the wait for it counts), drawing cases
  and expected outputs,
  starting and confining the child, defining the cells, passing inputs and answers,
  stopping and cleaning up, scoring;

and where the overhead goes (the result's ``timing``): prepare (or the wait for it), start-up
(waiting for the child to be confined and ready, beyond the grader's own work), the grader's own work once the
child has its job (the expected outputs, starting the next submission's child; the child works
meanwhile), the rest of the child's life besides student code (each answer is compared as it
arrives), clean-up, scoring after the child;
with the CPU seconds of the grading thread and of the child's processes, which the load of
the machine does not inflate. The gradebook's writes are outside ``seconds`` (the
coordinating process does them); the wall time includes them. The load average is printed
before and after, and the threads the maths libraries may use.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_grading.py [--n 100] [--jobs 2]

Targets on the 2-core test machine: the whole batch within 60 s with ``--jobs 2``; a median
overhead of at most 0.03 s per submission with ``--jobs 1``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("I2DL_PLAIN_PROGRESS", "1")
REPO = Path(__file__).resolve().parents[1]  # the labs/ it grades (the course itself is installed)

from i2dl_lab.grading.batch import grade_batch  # noqa: E402
from i2dl_lab.grading.gradebook import Gradebook  # noqa: E402
from i2dl_lab.grading.grader import resolve_lab  # noqa: E402
from i2dl_lab.grading.release import release_notebook  # noqa: E402

LAB = "03"


def sign_error(src: str) -> str:
    """``src`` with the sign of one result flipped in its solution block: valid Python, a wrong answer.

    The last plain assignment ``name = expr`` of the block becomes ``name = -(expr)``.
    """
    import ast
    import re

    head, sep, rest = src.partition("### BEGIN SOLUTION")
    block, end, tail = rest.partition("### END SOLUTION")
    lines = block.split("\n")
    for k in range(len(lines) - 1, -1, -1):
        m = re.match(r"^(\s*)([A-Za-z_]\w*) = ([^{\[#].*?)(\s*#.*)?$", lines[k])
        if m:
            lines[k] = f"{m.group(1)}{m.group(2)} = -({m.group(3)}){m.group(4) or ''}"
            out = head + sep + "\n".join(lines) + end + tail
            ast.parse(out)  # a benchmark of wrong answers, not of syntax errors
            return out
    raise ValueError("no assignment whose sign could flip in this solution block")


def make_class(out: Path, n: int, seed: int = 0) -> Counter:
    import random

    rnd = random.Random(seed)
    src = next((REPO / "labs").glob(f"{LAB}_*.ipynb"))
    solution = json.loads(src.read_text())
    student, _ = release_notebook(src.read_bytes(), LAB, src.name)
    ex_idx = [i for i, c in enumerate(solution["cells"]) if "exercise" in c.get("metadata", {}).get("i2dl", {})]
    kinds = Counter()
    for k in range(n):
        r = k % 10
        if r < 4:
            kind, nb = "correct", json.loads(json.dumps(solution))
        elif r < 7:
            kind, nb = "partial", json.loads(json.dumps(student))
            for i in rnd.sample(ex_idx, rnd.randint(1, len(ex_idx) - 1)):
                nb["cells"][i]["source"] = solution["cells"][i]["source"]
        elif r < 9:
            kind, nb = "wrong", json.loads(json.dumps(solution))
            i = rnd.choice(ex_idx)
            nb["cells"][i]["source"] = sign_error("".join(nb["cells"][i]["source"]))
        else:
            kind = "broken"
            nb = None
            which = k % 3
            if which == 0:
                (out / f"s{k:03d}.ipynb").write_bytes(b'{"cells": [{"cell_type": "code", "source": "x = ')
            elif which == 1:
                (out / f"s{k:03d}.ipynb").write_text(json.dumps({"cells": [], "nbformat": 4, "metadata": {}}))
            else:
                kind, nb = "loops", json.loads(json.dumps(solution))
                i = ex_idx[0]
                nb["cells"][i]["source"] = "".join(nb["cells"][i]["source"]).replace(
                    "### BEGIN SOLUTION", "### BEGIN SOLUTION\n    while True:\n        pass")
        kinds[kind] += 1
        if nb is not None:
            nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": f"student {k}"})
            (out / f"s{k:03d}.ipynb").write_text(json.dumps(nb))
    return kinds


def static_check_seconds(mb: int = 20) -> tuple[float, int]:
    """Seconds the grader's static check (parse + plan) takes on a ``mb`` MB notebook of the worst kind.

    Every code cell sits just under the per-cell cap and holds an import line, so every cell
    must be parsed; names abound (the cost that used to grow with lines x names).
    """
    from i2dl_lab.grading.codecheck import MAX_CELL_BYTES, plan
    from i2dl_lab.grading.grader import load_spec, spec_locator
    from i2dl_lab.grading.notebook import parse_notebook

    body = "import numpy as np\n" + "a = b + c * d\n" * ((MAX_CELL_BYTES - 64) // 14)
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": body}
    cells = [cell] * ((mb * 2**20 - 1024) // (len(json.dumps(cell)) + 2))
    data = json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()
    exercises = load_spec(spec_locator(LAB)).EXERCISES
    t0 = time.perf_counter()
    parsed, _ = parse_notebook(data)
    plan(parsed, exercises)
    return time.perf_counter() - t0, len(data)


def _quantiles(values) -> tuple[float, float]:
    """Median and 90th percentile."""
    v = sorted(values)
    return statistics.median(v), v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="i2dl-bench-") as tmp:
        tmp = Path(tmp)
        subs = tmp / "subs"
        subs.mkdir()
        kinds = make_class(subs, args.n)
        cfg = resolve_lab(LAB, source=REPO / "labs", secret=b"benchmark")
        t0 = time.perf_counter()
        summary = grade_batch(cfg, [subs], tmp / "gb.sqlite", jobs=args.jobs, quiet=True)
        wall = time.perf_counter() - t0
        with Gradebook(tmp / "gb.sqlite") as book:
            results = [book.result(r["lab"], r["sha256"], r["student"]) for r in book.rows()]
    load_after = os.getloadavg()
    scores = Counter(round(r.score, 2) for r in results)
    clean = [r for r in results if r.status == "graded" and not any("time limit" in e.message for e in r.exercises)]
    student = {id(r): sum(c.seconds or 0.0 for e in r.exercises for c in e.cases) for r in clean}
    rows = {
        "grading time": [r.seconds for r in clean],
        "student code": [student[id(r)] for r in clean],
        "overhead": [r.seconds - student[id(r)] for r in clean],
        "  prepare, waited for (parse, static check, cases)": [r.timing.get("prepare_waited", r.timing["prepare"])
                                                               for r in clean],
        "  start-up (fork, confine, until ready)": [r.timing["startup"] for r in clean],
        "  while the child runs: expected, next child": [r.timing["overlapped"] for r in clean],
        "  child besides start-up and student code": [r.timing["children"] - r.timing["startup"]
                                                       - r.timing["overlapped"] - r.timing["cleanup"]
                                                       - student[id(r)] for r in clean],
        "  clean-up (stop, reap, cgroup, temp)": [r.timing["cleanup"] for r in clean],
        "  scoring after the child": [r.timing["score"] for r in clean],
        "prepare's own time (ahead, in a thread, with --jobs 1)": [r.timing["prepare"] for r in clean],
        "CPU: grading thread": [r.timing["grader_cpu"] for r in clean],
        "CPU: child processes": [r.timing["child_cpu"] for r in clean],
    }
    threads = ", ".join(f"{v}={os.environ.get(v)}" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                              "MKL_NUM_THREADS"))
    print(f"lab {LAB}: {args.n} submissions {dict(kinds)}, --jobs {args.jobs}, {os.cpu_count()} cores; "
          f"threads: {threads} (children: 1)")
    print(f"  load average before {' '.join(f'{x:.2f}' for x in load_before)}, "
          f"after {' '.join(f'{x:.2f}' for x in load_after)}")
    print(f"  {summary.line()}")
    verdict = "OK" if wall <= 60 else "MISSED"
    print(f"  wall {wall:.1f} s ({args.n / wall:.2f} submissions/s); target <= 60 s: {verdict}")
    per = [r.seconds for r in results]
    print(f"  every submission: median {statistics.median(per):.3f} s, max {max(per):.2f} s (a loop: "
          f"{cfg.limits.exercise_floor:g} s per looping exercise, the clock its reference needs)")
    limited = [r for r in results if r.status == "graded" and r not in clean]
    for r in limited:
        t = r.timing
        print(f"  time limit hit: {r.seconds:.2f} s = prepare {t['prepare']:.2f} + children {t['children']:.2f} "
              f"(start-up {t['startup']:.2f}, clean-up {t['cleanup']:.2f}) + scoring {t['score']:.2f}; "
              f"{'; '.join(e.message for e in r.exercises if 'time limit' in e.message)}")
    print(f"  {len(clean)} graded without a time limit, per submission (ms):   median      p90")
    for name, values in rows.items():
        med, p90 = _quantiles(values)
        print(f"  {name:<50} {med * 1e3:8.1f} {p90 * 1e3:8.1f}")
    med = statistics.median(rows["overhead"])
    print(f"  overhead median {med:.3f} s; target median <= 0.03 s: {'OK' if med <= 0.03 else 'MISSED'}")
    print(f"  score histogram: {dict(sorted(scores.items()))}")
    secs, size = static_check_seconds()
    print(f"  static check of a {size / 2**20:.1f} MiB notebook (every cell parsed): {secs:.2f} s")


if __name__ == "__main__":
    main()
