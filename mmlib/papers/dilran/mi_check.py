"""The paper's MI column read once with the authors' own MATLAB script (issue 12, item 3).

The DILRAN paper's "MI" column (Tables 1-2: 4.5 to 4.7 for every method) was computed
by the authors' ``MI&FMI/analysis_MI.m`` (public repository simonZhou86/dilran) on
JPEG files written by their save step. NOTES.md (DILRAN) reads that script as the
256-bin entropy of the fused image; :func:`mmlib.papers.dilran.image_metrics.entropy_saved_jpeg`
is that reading. ``scripts/dilran-octave-mi.sh`` confirms it once:

1. ``python -m mmlib.papers.dilran.mi_check write DIR``: a few deterministic fused
   images (:func:`check_inputs`: image-fusion phantoms and, where the data root has
   them, AANLIB pairs, fused by the pixel average; no training) saved as the authors
   saved theirs (:func:`save_as_authors`), with this module's numbers in ``mmlib.json``;
2. GNU Octave with its image package runs ``analysis_MI(ct, mri, fused)`` on each
   saved triplet, and the image package's ``entropy`` on the fused file;
3. ``python -m mmlib.papers.dilran.mi_check combine DIR OCTAVE_CSV --out FILE``: both
   sets of numbers, per image, with provenance (:func:`combine`), written with
   :mod:`mmlib.atomic`; the Tables 1-2 chapter reads it with :func:`read_mi_check`.

Hand-written glue around Pillow, numpy and the metric module.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from mmlib.atomic import atomic_path, write_json
from mmlib.config import REPO_ROOT
from mmlib.config import data_root as resolve_data_root
from mmlib.data.phantoms.image_fusion import image_fusion_phantoms
from mmlib.errors import DataError, ParameterError
from mmlib.papers.dilran.baselines import average_fusion
from mmlib.papers.dilran.image_metrics import (
    AUTHORS_JPEG_QUALITY,
    authors_uint8,
    entropy_256,
    entropy_saved_jpeg,
)
from mmlib.papers.dilran.mutual_info import mutual_information
from mmlib.runs.provenance import git_state

#: The committed comparison (``scripts/dilran-octave-mi.sh`` writes it).
MI_CHECK_FILE = REPO_ROOT / "results" / "dilran" / "mi-check" / "mi-check.json"
#: The AANLIB pairs scored when the data root has them (test pairs of the authors' split).
AANLIB_PAIRS = ("2007", "37013")
#: A triplet: (CT, MR, fused), 2-D float arrays; the fused one may leave [0, 1] (it is saved unclipped).
Triplet = tuple[np.ndarray, np.ndarray, np.ndarray]


def check_inputs(data_root: str | os.PathLike | None = None) -> dict[str, tuple[str, Triplet]]:
    """``{name: (description, (ct, mr, fused))}``: the deterministic images of the check.

    Two image-fusion phantom pairs (seed 0, 128 x 128) fused by the pixel average; a
    third phantom pair whose fused image is stretched past both ends of [0, 1] (``2.5 * average - 0.15``),
    so the saved file exercises the cast's wrap-around; and :data:`AANLIB_PAIRS` fused by
    the pixel average when ``<data_root>/harvard-aanlib/CT-MRI`` holds them.
    """
    cohort = image_fusion_phantoms(n_series=1, slices_per_series=3, size=128, seed=0)
    out: dict[str, tuple[str, Triplet]] = {}
    for k in range(3):
        ct, mr = cohort.images["ct"][k], cohort.images["mri"][k]
        average = average_fusion(ct, mr).astype(np.float32)
        if k < 2:
            out[f"phantom{k}"] = (f"phantom pair {cohort.case_ids[k]}, pixel average", (ct, mr, average))
        else:
            stretched = (2.5 * average - 0.15).astype(np.float32)
            description = f"phantom pair {cohort.case_ids[k]}, 2.5 x average - 0.15 (leaves [0, 1] at both ends)"
            out[f"phantom{k}-wrap"] = (description, (ct, mr, stretched))
    try:
        folder = resolve_data_root(data_root) / "harvard-aanlib" / "CT-MRI"
    except DataError:
        folder = None
    if folder is not None and all((folder / m / f"{n}.png").is_file() for n in AANLIB_PAIRS for m in ("CT", "MRI")):
        for name in AANLIB_PAIRS:
            ct, mr = (np.asarray(Image.open(folder / m / f"{name}.png").convert("L"), dtype=np.float32) / 255.0
                      for m in ("CT", "MRI"))
            out[f"aanlib{name}"] = (f"AANLIB CT-MRI pair {name}, pixel average", (ct, mr, average_fusion(ct, mr)
                                                                                   .astype(np.float32)))
    return out


def save_as_authors(path: str | os.PathLike, image: np.ndarray, quality: int = AUTHORS_JPEG_QUALITY) -> Path:
    """Write ``image`` as the authors' save step did: ``(image * 255).astype(uint8)`` without clipping
    (:func:`~mmlib.papers.dilran.image_metrics.authors_uint8`), a greyscale JPEG from Pillow at ``quality``."""
    path = Path(path)
    if path.suffix.lower() not in (".jpg", ".jpeg"):
        raise ParameterError(f"{path}: the authors' files are .jpg")
    with atomic_path(path) as tmp:
        Image.fromarray(authors_uint8(image)).save(tmp, format="JPEG", quality=quality)
    return path


def read_jpeg(path: str | os.PathLike) -> np.ndarray:
    """A saved greyscale JPEG as a uint8 array (Pillow's decoder)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("L"))


def write_check_images(out_dir: str | os.PathLike, inputs: Mapping[str, tuple[str, Triplet]]) -> dict[str, dict]:
    """Save ``ct_<name>.jpg``, ``mri_<name>.jpg`` and ``fused_<name>.jpg`` for each input (the file names
    of the authors' ``main.m``) and return this module's numbers per image (also written to ``mmlib.json``).

    Per image: ``en_saved_jpeg`` (computed in memory, from the float image), ``en_saved_file`` (the
    entropy of the written file as Pillow decodes it), ``en_256`` of the fused image clipped to [0, 1]
    and rounded (what the committed runs report), and ``true_mi_bits``, the mean over both sources of the
    mutual information (bits) between the saved fused file and the saved source.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    numbers = {}
    for name, (description, (ct, mr, fused)) in inputs.items():
        files = {kind: save_as_authors(out_dir / f"{kind}_{name}.jpg", image)
                 for kind, image in (("ct", ct), ("mri", mr), ("fused", fused))}
        saved = {kind: read_jpeg(path) for kind, path in files.items()}
        true_mi = 0.5 * (mutual_information(saved["fused"], saved["ct"])
                         + mutual_information(saved["fused"], saved["mri"])) / math.log(2)
        numbers[name] = {
            "description": description,
            "en_saved_jpeg": entropy_saved_jpeg(fused),
            "en_saved_file": entropy_256(saved["fused"] / 255.0),
            "en_256": entropy_256(np.clip(fused, 0.0, 1.0)),
            "true_mi_bits": true_mi,
            "fused_outside_0_1": bool((np.asarray(fused) < 0).any() or (np.asarray(fused) > 1).any()),
        }
    write_json(out_dir / "mmlib.json", numbers)
    return numbers


def read_octave_csv(path: str | os.PathLike) -> dict[str, dict[str, float]]:
    """``{name: {"analysis_MI": ..., "entropy_F": ...}}`` from the Octave step's ``name,mi,entropy`` lines."""
    rows = {}
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != 3:
            raise DataError(path, f"expected 'name,analysis_MI,entropy_F' lines, got {line!r}")
        rows[parts[0]] = {"analysis_MI": float(parts[1]), "entropy_F": float(parts[2])}
    if not rows:
        raise DataError(path, "no Octave results in the file")
    return rows


def combine(image_dir: str | os.PathLike, octave_csv: str | os.PathLike, *, provenance: Mapping) -> dict:
    """The comparison record: per image the Octave numbers beside this module's, and the largest
    difference between Octave's ``analysis_MI`` and :func:`entropy_saved_jpeg`."""
    ours = json.loads((Path(image_dir) / "mmlib.json").read_text())
    octave = read_octave_csv(octave_csv)
    if sorted(ours) != sorted(octave):
        raise DataError(octave_csv, f"Octave scored {sorted(octave)}, the images are {sorted(ours)}")
    images = [{"name": name, **ours[name], "octave_analysis_MI": octave[name]["analysis_MI"],
               "octave_entropy_F": octave[name]["entropy_F"],
               "difference": ours[name]["en_saved_jpeg"] - octave[name]["analysis_MI"]} for name in ours]
    return {
        "what": "The authors' MI&FMI/analysis_MI.m run under GNU Octave on JPEG files saved as their save step "
                "saved them, beside mmlib.papers.dilran.image_metrics.entropy_saved_jpeg (256-bin entropy, bits) "
                "of the same fused images",
        "images": images,
        "max_abs_difference": max(abs(row["difference"]) for row in images),
        "provenance": dict(provenance),
    }


def read_mi_check(path: str | os.PathLike | None = None) -> tuple[pd.DataFrame, dict]:
    """The committed comparison (default :data:`MI_CHECK_FILE`) as a table, one row per image, and its
    provenance. Columns: Octave's ``analysis_MI`` (the paper's "MI"), :func:`entropy_saved_jpeg`, their
    difference, the in-memory 8-bit entropy ``en_256`` and the true MI (bits) of the saved files."""
    path = Path(path) if path is not None else MI_CHECK_FILE
    if not path.is_file():
        raise DataError(path, "no MI check committed: run `bash scripts/dilran-octave-mi.sh <analysis_MI.m>`")
    record = json.loads(path.read_text())
    if not record.get("images"):
        raise DataError(path, "the MI check lists no images")
    columns = {"description": "image", "octave_analysis_MI": "analysis_MI.m (Octave)",
               "en_saved_jpeg": "en_saved_jpeg (mmlib)", "difference": "mmlib - Octave",
               "en_256": "en_256 (clipped, in memory)", "true_mi_bits": "true MI, bits (saved files)"}
    table = pd.DataFrame(record["images"]).set_index("name")
    missing = sorted(set(columns) - set(table.columns))
    if missing:
        raise DataError(path, f"the MI check lacks column(s) {missing}")
    return table[list(columns)].rename(columns=columns), record["provenance"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmlib.papers.dilran.mi_check", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    write = sub.add_parser("write", help="save the check images and this module's numbers")
    write.add_argument("out_dir", type=Path)
    write.add_argument("--data-root", default=None, help="folder holding harvard-aanlib/ (default: $MMLIB_DATA)")
    both = sub.add_parser("combine", help="merge the Octave CSV with mmlib.json into the comparison file")
    both.add_argument("image_dir", type=Path)
    both.add_argument("octave_csv", type=Path)
    both.add_argument("--out", type=Path, required=True)
    both.add_argument("--analysis-mi", type=Path, required=True, help="the analysis_MI.m that Octave ran")
    both.add_argument("--source-commit", default=None, help="the simonZhou86/dilran commit it came from")
    both.add_argument("--octave-version", required=True)
    both.add_argument("--image-package-version", required=True)
    both.add_argument("--command", required=True, help="the command line that made the comparison")
    args = parser.parse_args(argv)
    if args.step == "write":
        numbers = write_check_images(args.out_dir, check_inputs(args.data_root))
        for name, row in numbers.items():
            print(f"{name}: en_saved_jpeg {row['en_saved_jpeg']:.6f}  en_256 {row['en_256']:.6f}")
        return 0
    import PIL

    provenance = {
        "command": args.command,
        "git": git_state(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "octave_version": args.octave_version,
        "octave_image_package_version": args.image_package_version,
        "pillow_version": PIL.__version__,
        "jpeg_quality": AUTHORS_JPEG_QUALITY,
        "analysis_MI.m": {"repository": "https://github.com/simonZhou86/dilran", "path": "MI&FMI/analysis_MI.m",
                          "commit": args.source_commit, "sha256": _sha256(args.analysis_mi)},
    }
    record = combine(args.image_dir, args.octave_csv, provenance=provenance)
    write_json(args.out, record)
    print(f"wrote {args.out}: max |mmlib - Octave| = {record['max_abs_difference']:.3g} bits")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
