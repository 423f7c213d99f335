"""The MASAN paper's numbers, typed in once (Zong et al., arXiv 2208.04945), and the chapters' full-scale settings.

Quoted from ``../shared/papers/masan-alzheimers-autoencoder.txt``:

* **Table 2** "The prediction performance in three metrics. The training/testing
  sets ratio is 7:3. Values are reported as mean ±std deviation." Columns
  Accuracy, Precision, Recall, in percent as printed, named as
  :data:`mmlib.eval.metrics.METRICS` names them. AD is the positive class
  against NC and MCI (Sec. 3.3: "treating AD as the positive class (AD vs. NC
  and MCI)"), 10 experiments.
* **Fig. 3** "The comparison of attention mechanism (with/without)": a bar chart
  of the three metrics, the paper's fusion against "simply element-wise
  addition", AD vs NC (Sec. 3.3, Ablation Study). The text copy holds no bar
  heights, only the statement that the fusion "does work by improving the
  classification performance in all three evaluation metrics";
  :data:`FIGURE_3` therefore has rows without values, and the claim is tested
  on its direction.
* **Fig. 4**: an embedding map, no numbers; the text names the hippocampus and
  amygdala as higher-weighted (:data:`FIGURE_4_REGIONS`).
* The data (Sec. 3.1): :data:`PAPER_COHORT`, :data:`PAPER_T1_SHAPE`,
  :data:`PAPER_FMRI_SHAPE`, :data:`PAPER_TIMEPOINTS`.

The chapters' "Full scale" boxes are rendered from :data:`FULL_SCALE_MODEL`,
:data:`FULL_SCALE_OASIS` and :data:`FULL_SCALE_ABIDE`.
"""

from __future__ import annotations

from mmlib.eval.tables import PaperTable
from mmlib.runs.full_scale import FullScale

PAPER = "masan-alzheimers-autoencoder.txt"
#: Table 2's columns, in the paper's order (percent).
COLUMNS = ["acc", "precision", "recall"]

TABLE_2 = PaperTable(PAPER, "Table 2", "prediction performance, AD vs NC + MCI, 7:3 split, mean ± std over 10 runs (%)",
                     columns=COLUMNS, rows={
    "H-FCN": {"acc": "64.23±5.33", "precision": "68.35±2.54", "recall": "82.55±4.73"},
    "Ours": {"acc": "67.55±4.26", "precision": "73.61±3.16", "recall": "79.82±4.49"},
})
FIGURE_3 = PaperTable(PAPER, "Fig. 3", "attention fusion vs element-wise addition, AD vs NC (bar heights not in the text)",
                      columns=COLUMNS, rows={"Attention fusion (ours)": {}, "Element-wise addition": {}})
#: Table 1 "The settings of the sPM network parameters": (name, ops, output size), as printed (the names
#: repeat "EncoderDown1 / EncoderBlock1" for all three steps; 128x64x64x44 and the last row's 64 channels too).
TABLE_1 = (
    ("Input, T1WI", "", "1x240x256x176"),
    ("InitConv", "Conv", "32x240x256x176"),
    ("EncoderDown1", "Conv stride2", "64x120x128x88"),
    ("EncoderBlock1", "[GN, ReLU, Conv]x2, AddId", "64x120x128x88"),
    ("EncoderDown1", "Conv stride2", "128x64x64x44"),
    ("EncoderBlock1", "[GN, ReLU, Conv]x2, AddId", "128x64x64x44"),
    ("EncoderDown1", "Conv stride2", "128x30x32x22"),
    ("EncoderBlock1", "[GN, ReLU, Conv]x2, AddId", "64x30x32x22"),
)
#: The regions Fig. 4's text reads as higher-weighted ("such as the hippocampus, amygdala, etc.").
FIGURE_4_REGIONS = ("hippocampus", "amygdala")
#: Sec. 3.1: ADNI3, 206 pairs of T1WI and fMRI.
PAPER_COHORT = {"AD": 72, "EMCI": 34, "LMCI": 36, "NC": 64}
PAPER_T1_SHAPE = (240, 256, 176)
PAPER_FMRI_SHAPE = (60, 64, 44)
PAPER_TIMEPOINTS = 976

_GPU = {"device": "cuda", "precision": "amp", "width": 1.0}

FULL_SCALE_MODEL = FullScale(
    "masan/masan-model",
    {"dataset": "manifest", "manifest": "/path/to/adni3-pairs.csv", "t1_shape": PAPER_T1_SHAPE,
     "fmri_shape": PAPER_FMRI_SHAPE, "window": PAPER_TIMEPOINTS, "max_epochs": 800, "pretrain_epochs": 50,
     "batch_size": 1, "hfcn_patch_size": 25, "hfcn_width": 1.0, "hfcn_epochs": 800, **_GPU,
     "checkpoint_dir": "checkpoints/masan"},
    source="Sec. 3.1-3.2 and Table 1: 240x256x176 T1, 976 x 60x64x44 fMRI, sPM widths 32-64-128-128, Adam lr 1e-3, "
           "about 800 epochs; H-FCN on 25^3 patches",
    note="The manifest is a CSV with columns <code>subject, label, t1, fmri</code> (NIfTI paths, absolute or relative "
         "to the CSV; labels NC / MCI / EMCI / LMCI / AD). The paper does not say how long the reconstruction "
         "pre-training runs; 50 epochs is this book's guess. At these sizes MASAN has 706 M parameters (64 "
         "sub-networks per modality; time as input channels gives the fPM's first convolution all 976 volumes), "
         "and one training step of one subject needs about 25 GiB in fp32: 14 GiB of layer outputs and 10.5 GiB "
         "of weights, gradients and Adam's moments (<code>benchmarks/masan_speed.py</code> computes both), so a "
         "40 GB GPU at batch 1. The fPM's other reading, <code>fmri_reading=\"frames\"</code>, keeps 16 times "
         "the layer outputs.",
    folds="0-9", tag="adni3")
FULL_SCALE_OASIS = FullScale(
    "masan/oasis", {"image_size": 176, "width": 1.0, "max_epochs": 800, "pretrain_epochs": 50, "hfcn_patch_size": 25,
                    "hfcn_width": 1.0, "hfcn_epochs": 800, **_GPU},
    source="the paper's training settings (Sec. 3.2) on the OASIS slices at their own 176-pixel size",
    note="OASIS is not the paper's data; this is the structural branch at the paper's width and epochs.",
    folds="0-9", tag="oasis-full")
FULL_SCALE_ABIDE = FullScale(
    "masan/abide", {"width": 1.0, "max_epochs": 800, "pretrain_epochs": 50, **_GPU},
    source="the paper's training settings (Sec. 3.2) on the ABIDE region time series",
    note="ABIDE is not the paper's data (autism, not Alzheimer's); this is the functional branch at the paper's "
         "width and epochs.", folds="0-9", tag="abide-full")
