"""M3's result tables, typed in once (Kong et al. 2024, Tables 3-7 and the AUCs of Sec. 3.2 / Figure 4).

Quoted from ``../shared/papers/m3-mask-attention-multiscale.txt``: F1 and ACC as
"mean ± std" over 5 folds, as printed (Table 3's FLAIR ACC std is 0.01, Table
7's values have three decimals). The columns are named as
:data:`mmlib.eval.metrics.METRICS` names them (``"f1"``, ``"acc"``, ``"auc"``).

The AUCs are not in any table: the paper draws them as ROC curves (Figure 4)
and quotes six of them in the text of Sec. 3.2 ("the best performance achieved
by the t1ce modal at 0.9815 ... the FLAIR modal ... 0.9543"; "MTT ... 0.8069 and
CBV ... 0.7542"; "brain tumor fusion ... 0.9871 ... hemorrhage transformation
... 0.8403"), and bounds the others ("all exceeds 0.95" for the tumour
modalities, "all exceeds 0.75" for the HT maps). :data:`TABLE_3` and
:data:`TABLE_4` hold those six as the ``"auc"`` column; the other cells are
empty. Figures 6 and 7 (the ablations' ROC curves) give no number in the text.

Two slips of the paper's text are kept as printed in the tables and named in
the chapters: Sec. 3.2 gives T1ce's F1 as 0.9246 where Table 3 has 0.9264, and
it calls "the FLAIR modal" the weakest HT map (the HT task has no FLAIR).

The chapters' "Full scale" boxes are rendered from :data:`FULL_SCALE_FOLD` and
:data:`FULL_SCALE_RADIOMICS`.
"""

from __future__ import annotations

from mmlib.eval.tables import PaperTable
from mmlib.runs.full_scale import FullScale

PAPER = "m3-mask-attention-multiscale.txt"
COLUMNS = ["f1", "acc", "auc"]  # the paper's F1 and ACC (Tables 3-7) and AUC (Sec. 3.2, Figure 4)
ABLATION_COLUMNS = ["f1", "acc"]


def cells(f1: str, acc: str, auc: str | None = None) -> dict[str, str]:
    """One row's values in :data:`COLUMNS` order (``auc`` only where the text quotes it)."""
    return {"f1": f1, "acc": acc, **({"auc": auc} if auc is not None else {})}


# Table 3 (F1, ACC) and Sec. 3.2 / Figure 4, left (AUC): the tumour task, per modality and multimodal.
TABLE_3 = PaperTable(PAPER, "Table 3 and Figure 4 (left)",
                     "M3, glioma vs metastasis: F1 and ACC (Table 3), AUC where Sec. 3.2 quotes Figure 4",
                     columns=COLUMNS, rows={
    "T1ce": cells("0.9264±0.05", "0.9463±0.02", "0.9815"),
    "T2": cells("0.9163±0.05", "0.9382±0.02"),
    "FLAIR": cells("0.8567±0.07", "0.8964±0.01", "0.9543"),
    "Multimodal": cells("0.9405±0.03", "0.9554±0.01", "0.9871"),
})
# Table 4 (F1, ACC) and Sec. 3.2 / Figure 4, right (AUC): the HT task.
TABLE_4 = PaperTable(PAPER, "Table 4 and Figure 4 (right)",
                     "M3, haemorrhagic transformation: F1 and ACC (Table 4), AUC where Sec. 3.2 quotes Figure 4",
                     columns=COLUMNS, rows={
    "ADC": cells("0.7428±0.11", "0.8066±0.06"),
    "CBF": cells("0.7093±0.15", "0.7400±0.14"),
    "CBV": cells("0.7702±0.13", "0.8400±0.08", "0.7542"),
    "MTT": cells("0.7383±0.15", "0.7800±0.13", "0.8069"),
    "TTP": cells("0.7905±0.12", "0.8457±0.05"),
    "Multimodal": cells("0.7943±0.10", "0.8533±0.04", "0.8403"),
})

#: The ablations' column groups in Tables 5 and 6, by this book's variant name.
ABLATIONS = {"deep": "Deep learning", "mask": "Mask attention", "multiscale": "Multiscale"}


def _ablation(table: str, caption: str, rows: dict[str, tuple[str, str, str, str, str, str]]) -> dict[str, PaperTable]:
    """One PaperTable per ablation (column group) of Table 5 or 6."""
    return {variant: PaperTable(PAPER, table, f"{caption}, {label}", columns=ABLATION_COLUMNS,
                                rows={row: {"f1": v[2 * k], "acc": v[2 * k + 1]} for row, v in rows.items()})
            for k, (variant, label) in enumerate(ABLATIONS.items())}


# Table 5: the tumour task's ablations, (F1, ACC) of Deep learning, Mask attention, Multiscale.
TABLE_5 = _ablation("Table 5", "ablations, glioma vs metastasis", {
    "T1ce": ("0.8896±0.05", "0.9136±0.01", "0.9005±0.06", "0.9254±0.06", "0.9114±0.05", "0.9318±0.02"),
    "T2": ("0.8867±0.06", "0.9136±0.01", "0.8887±0.05", "0.9182±0.02", "0.8938±0.05", "0.9190±0.01"),
    "FLAIR": ("0.8627±0.06", "0.8873±0.02", "0.8595±0.06", "0.8900±0.01", "0.8616±0.06", "0.8873±0.01"),
    "Multimodal": ("0.8946±0.05", "0.9172±0.02", "0.9081±0.04", "0.9291±0.01", "0.9250±0.05", "0.9427±0.02"),
})
# Table 6: the HT task's ablations.
TABLE_6 = _ablation("Table 6", "ablations, haemorrhagic transformation", {
    "ADC": ("0.6699±0.11", "0.7333±0.12", "0.6719±0.15", "0.7133±0.14", "0.6817±0.12", "0.7333±0.10"),
    "CBF": ("0.7090±0.12", "0.7533±0.14", "0.7285±0.15", "0.7733±0.13", "0.7092±0.12", "0.7533±0.11"),
    "CBV": ("0.6034±0.11", "0.6600±0.12", "0.6714±0.14", "0.7400±0.13", "0.6071±0.11", "0.6600±0.11"),
    "MTT": ("0.7408±0.12", "0.8133±0.11", "0.6969±0.14", "0.7466±0.13", "0.7473±0.13", "0.7600±0.13"),
    "TTP": ("0.6861±0.14", "0.7400±0.14", "0.7657±0.13", "0.7800±0.09", "0.6811±0.14", "0.7333±0.14"),
    "Multimodal": ("0.7530±0.13", "0.7550±0.12", "0.7666±0.12", "0.7866±0.10", "0.7405±0.12", "0.7655±0.11"),
})

# Table 7: feature transformation and classification methods, multimodal HT.
TABLE_7 = PaperTable(PAPER, "Table 7", "feature transformation and classification methods, multimodal HT",
                     columns=ABLATION_COLUMNS, rows={
    "Ours": {"f1": "0.794±0.10", "acc": "0.853±0.04"},
    "Direct CNN": {"f1": "0.720±0.15", "acc": "0.818±0.07"},
    "Ours-RF": {"f1": "0.787±0.09", "acc": "0.839±0.04"},
    "Ours-GBM": {"f1": "0.790±0.11", "acc": "0.841±0.05"},
    "Ours-MLP": {"f1": "0.791±0.13", "acc": "0.841±0.05"},
})

#: The rows of Tables 3 / 5 (tumour) and 4 / 6 (HT) by this book's modality name.
TUMOUR_ROWS = {"t1ce": "T1ce", "t2": "T2", "flair": "FLAIR", "multimodal": "Multimodal"}
HT_ROWS = {"adc": "ADC", "cbf": "CBF", "cbv": "CBV", "mtt": "MTT", "ttp": "TTP", "multimodal": "Multimodal"}
#: Table 7's rows by this book's method name.
TABLE_7_ROWS = {"m3/svm/multimodal": "Ours", "direct-cnn/multimodal": "Direct CNN", "m3/rf/multimodal": "Ours-RF",
                "m3/gbm/multimodal": "Ours-GBM", "m3/mlp/multimodal": "Ours-MLP"}


# The fold chapter's full-scale settings (Sec. 2.2.3 and 3.1): a user's NIfTI cohort, the paper's size, a GPU.
_MEDICALNET_NOTE = (
    "<code>manifest</code> is your cohort's CSV (columns <code>case_id</code>, <code>label</code> (0/1), one "
    "column per modality, <code>mask</code>; paths relative to the CSV), relative to the data root or absolute. "
    "<code>medicalnet_weights</code> is MedicalNet's <code>resnet_50.pth</code> (github.com/Tencent/MedicalNet), "
    "a local file you obtain yourself (nothing is downloaded); without it the networks train from scratch. The "
    "paper trains 200 iterations; its optimiser, learning rate and batch size are not given, so the CPU "
    "settings stay. For the HT task pass <code>task=\"ht\"</code>, <code>direct_cnn=true</code> and "
    "<code>modalities=[\"adc\", \"cbf\", \"cbv\", \"mtt\", \"ttp\"]</code>; "
    "<code>benchmarks/m3_speed.py</code> measures one forward pass at 155 x 280 x 280.")
FULL_SCALE_FOLD = FullScale(
    "m3/fold",
    {"dataset": "manifest", "task": "tumour", "manifest": "my-cohort/manifest.csv", "data_root": "/path/to/data",
     "spatial_size": (155, 280, 280), "width": 1.0, "batch_size": 1, "max_epochs": 200, "device": "cuda",
     "precision": "amp", "medicalnet_weights": "resnet_50.pth", "checkpoint_dir": "checkpoints/m3"},
    source="Sec. 2.2.3: 155 x 280 x 280 inputs, MedicalNet's ResNet-50 initialised from MED3D, 200 iterations; "
           "Sec. 2.6: 5-fold cross-validation",
    note=_MEDICALNET_NOTE, folds="0-4", tag="cohort")
FULL_SCALE_RADIOMICS = FullScale(
    "m3/radiomics",
    {"data_root": "/path/to/data", "dataset": "brats2017-radiomics"},
    source="Sec. 2.5-2.6: PCA + SVM per modality and multimodal, 5-fold cross-validation",
    note="The defaults already are the reference run on the real glioblastoma-vs-metastasis radiomics: the "
         "tables are small and every head fits in seconds on a CPU. This setting runs the same heads on the "
         "BraTS 2017 LGG-vs-HGG radiomics (the second real cohort).",
    folds="0-4", tag="brats2017-radiomics")
