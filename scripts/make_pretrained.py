"""Recreate data/digits_lenet_pretrained.pt, the pretrained checkpoint shipped with the course.

    .venv/bin/python scripts/make_pretrained.py           # retrain, write the file, update data/SHA256SUMS
    .venv/bin/python scripts/make_pretrained.py --check   # retrain into a temp file, compare with the shipped one

(with the course installed, as ``make setup`` does, so that ``i2dl_lab`` imports).

What it trains (see ``i2dl_lab.bridge.transfer.pretrain_digits_lenet``): the zoo's LeNet
(10 classes) on scikit-learn's digits upsampled to 16x16, using only part A (a stratified
half, seed 0) of the standard training split, 25 epochs of Adam (lr 3e-3, cosine schedule),
batch 32, augmented with random shifts of up to 2 pixels and Gaussian noise (std 0.1).
Part B, the validation and the test images are never seen: the transfer experiment draws its
10 labelled images per class from part B and tests on validation + test. One thread, fixed
seeds and torch's deterministic algorithms make the file byte-identical on every run with the
same platform and torch version (``--check`` retrains and compares; the SHA-256 is recorded
in data/SHA256SUMS). About 15-30 s on one CPU core; the file is about 160 kB.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]

import torch  # noqa: E402

from i2dl_lab.bridge.transfer import PRETRAINED_PATH, pretrain_digits_lenet  # noqa: E402
from i2dl_lab.data import sha256_file  # noqa: E402

SUMS = ROOT / "data" / "SHA256SUMS"


def update_sums(path: Path) -> None:
    lines = {}
    if SUMS.exists():
        for line in SUMS.read_text().splitlines():
            if line.strip():
                digest, name = line.split(maxsplit=1)
                lines[name.strip()] = digest
    lines[path.name] = sha256_file(path)
    SUMS.write_text("".join(f"{d}  {n}\n" for n, d in sorted(lines.items())))


def same_weights(a: Path, b: Path) -> bool:
    sa = torch.load(a, weights_only=True)["state_dict"]
    sb = torch.load(b, weights_only=True)["state_dict"]
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="retrain and compare with the shipped file")
    ap.add_argument("--out", type=Path, default=PRETRAINED_PATH)
    args = ap.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / PRETRAINED_PATH.name
            pretrain_digits_lenet(fresh)
            ok = same_weights(fresh, PRETRAINED_PATH)
            print(f"retrained weights {'match' if ok else 'DIFFER from'} {PRETRAINED_PATH}")
            print(f"sha256 fresh {sha256_file(fresh)} shipped {sha256_file(PRETRAINED_PATH)}")
            return 0 if ok else 1
    metrics = pretrain_digits_lenet(args.out)
    if args.out.resolve().parent == SUMS.parent.resolve():
        update_sums(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes), metrics {metrics}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
