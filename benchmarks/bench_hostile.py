"""What a hostile submission costs the host: the grader's memory under a flood, a submission's total memory.

Grades lab 03's solution notebook three times, each in a fresh Python process so that its peak
resident memory (``ru_maxrss``) belongs to that one grading:

* **honest**: the solution as it is;
* **flood**: the first graded function first writes 60 MiB of tiny JSON values in one line
  to every file descriptor it can reach, the answer pipe among them (the channel caps a line,
  so the grader's peak should grow by a small multiple of that cap, not by the flood);
* **many processes**: the first graded function forks 12 processes that each write 350 MiB
  (4.1 GiB in all) against the submission's 2 GiB cap. With a memory cgroup (root, cgroup v2)
  the cap covers all of them together; the child's recorded peak is printed beside the cap.

Prints, per grading: the score, the first exercise's message, the grading process's peak RSS
and the child's memory record.

    .venv/bin/python benchmarks/bench_hostile.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB = "03"

FLOOD = """
    import os as _os
    for _fd in range(3, 64):
        try:
            for _ in range(60):
                _os.write(_fd, b'{},' * 350_000)  # 1 MiB of empty objects, no newline
            _os.write(_fd, b'\\n')
        except OSError:
            pass
"""

MANY_PROCESSES = """
    import os as _os
    _kids = []
    for _ in range(12):
        _pid = _os.fork()
        if _pid == 0:
            _hold = b"1" * (350 << 20)  # every page written
            _os._exit(0)
        _kids.append(_pid)
    for _k in _kids:
        _os.waitpid(_k, 0)
"""


def _hostile(solution: dict, function: str, prologue: str) -> dict:
    """``solution`` with ``prologue`` run at the start of every call of the graded ``function``."""
    nb = json.loads(json.dumps(solution))
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "code" and f"def {function}(" in src:
            cell["source"] = (src + f"\n\n_{function}_honest = {function}\n\n"
                              f"def {function}(*args, **kwargs):{prologue}"
                              f"    return _{function}_honest(*args, **kwargs)\n")
            return nb
    raise LookupError(f"no cell of lab {LAB} defines {function}")


def grade_one(path: Path) -> None:
    """Grade ``path`` in this process and print what the module docstring lists (one JSON line)."""
    from i2dl_lab.grading.grader import grade_bytes, resolve_lab

    cfg = resolve_lab(LAB, source=REPO / "labs", secret=b"benchmark")
    r = grade_bytes(path.read_bytes(), path.name, cfg)
    print(json.dumps({"score": r.score, "max": r.max_score, "message": r.exercises[0].message,
                      "grader_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "memory": r.sandbox.get("memory"), "child_peak_bytes": r.sandbox.get("memory_peak_bytes"),
                      "cap_bytes": cfg.limits.memory_bytes}))


def main() -> None:
    from i2dl_lab.grading.grader import load_spec, spec_locator

    function = load_spec(spec_locator(LAB)).EXERCISES[0].function
    solution = json.loads(next((REPO / "labs").glob(f"{LAB}_*.ipynb")).read_text())
    print(f"lab {LAB}, hostile code at the start of `{function}`; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; running as uid {os.getuid()}")
    with tempfile.TemporaryDirectory(prefix="i2dl-hostile-") as tmp:
        for name, nb in (("honest", solution), ("flood", _hostile(solution, function, FLOOD)),
                         ("many processes", _hostile(solution, function, MANY_PROCESSES))):
            path = Path(tmp) / f"{name.replace(' ', '_')}.ipynb"
            path.write_text(json.dumps(nb))
            p = subprocess.run([sys.executable, __file__, "--grade", str(path)], capture_output=True, text=True,
                               timeout=600)
            if p.returncode:
                raise SystemExit(f"grading {name} failed:\n{p.stderr}")
            r = json.loads(p.stdout.strip().splitlines()[-1])
            peak = r["child_peak_bytes"]
            child = f"{int(peak) / 2**20:.0f} MiB peak" if peak else "no peak recorded"
            print(f"  {name:15s} score {r['score']:g}/{r['max']:g}; grader peak RSS {r['grader_peak_mib']:.0f} MiB; "
                  f"child: {child} against a {r['cap_bytes'] / 2**20:.0f} MiB cap ({r['memory']})")
            print(f"  {'':15s} first exercise: {r['message']}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--grade"]:
        grade_one(Path(sys.argv[2]))
    else:
        main()
