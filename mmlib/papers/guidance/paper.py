"""The guidance paper's result tables, typed in once (Xu et al., Tables III-VIII).

Quoted from ``../shared/papers/cross-modality-guidance-dual-attention.txt``,
mean ± std over 3 folds, as printed (including ``0.787±0.12`` and the all-zero
standard deviations of pixel fusion on BraTS2019). Columns are the paper's AUC,
Accuracy, Sensitivity and Specificity, named as :data:`mmlib.eval.metrics.METRICS`
names them. Rows are named as the paper names them; Table VII's rows by the
modalities used, in the paper's column order (``"T1ce + Flair + T1 + T2"``).
The chapters and :mod:`mmlib.papers.guidance.claims` read these. The chapters' "Full
scale" boxes are rendered from :data:`FULL_SCALE_UNIMODAL`, :data:`FULL_SCALE_GUIDANCE`
and :data:`FULL_SCALE_FUSION`.
"""

from __future__ import annotations

from mmlib.eval.tables import PaperTable
from mmlib.runs.full_scale import FullScale

PAPER = "cross-modality-guidance-dual-attention.txt"
COLUMNS = ["auc", "acc", "sensitivity", "specificity"]  # the paper's AUC, Accuracy, Sensitivity, Specificity


def cells(*values: str) -> dict[str, str]:
    """One row's values in :data:`COLUMNS` order."""
    return dict(zip(COLUMNS, values))


# Tables III / IV: RMC per modality and the probability ensemble.
TABLE_III = PaperTable(PAPER, "Table III", "RMC uni-modal and ensemble results on BraTS2018", columns=COLUMNS, rows={
    "T1ce": {"auc": "0.917±0.061", "acc": "0.926±0.038", "sensitivity": "0.933±0.046", "specificity": "0.900±0.075"},
    "Flair": {"auc": "0.798±0.043", "acc": "0.804±0.061", "sensitivity": "0.787±0.12", "specificity": "0.809±0.036"},
    "T1": {"auc": "0.756±0.027", "acc": "0.818±0.024", "sensitivity": "0.627±0.046", "specificity": "0.886±0.029"},
    "T2": {"auc": "0.803±0.021", "acc": "0.817±0.037", "sensitivity": "0.773±0.083", "specificity": "0.833±0.073"},
    "Ensemble": {"auc": "0.642±0.062", "acc": "0.805±0.038", "sensitivity": "0.293±0.113", "specificity": "0.990±0.011"},
})
TABLE_IV = PaperTable(PAPER, "Table IV", "RMC uni-modal and ensemble results on BraTS2019", columns=COLUMNS, rows={
    "T1ce": {"auc": "0.901±0.023", "acc": "0.911±0.031", "sensitivity": "0.882±0.037", "specificity": "0.919±0.041"},
    "Flair": {"auc": "0.770±0.043", "acc": "0.773±0.032", "sensitivity": "0.765±0.136", "specificity": "0.776±0.069"},
    "T1": {"auc": "0.733±0.038", "acc": "0.839±0.015", "sensitivity": "0.539±0.086", "specificity": "0.927±0.017"},
    "T2": {"auc": "0.805±0.019", "acc": "0.836±0.042", "sensitivity": "0.749±0.064", "specificity": "0.861±0.069"},
    "Ensemble": {"auc": "0.651±0.021", "acc": "0.834±0.021", "sensitivity": "0.314±0.016", "specificity": "0.988±0.025"},
})

# Tables V / VI: RMC and DA_RMC on T1ce.
TABLE_V = PaperTable(PAPER, "Table V", "RMC and DA_RMC on BraTS2018 under T1ce", columns=COLUMNS, rows={
    "RMC": {"auc": "0.917±0.061", "acc": "0.926±0.038", "sensitivity": "0.933±0.046", "specificity": "0.900±0.075"},
    "DA_RMC": {"auc": "0.941±0.020", "acc": "0.940±0.005", "sensitivity": "0.918±0.043", "specificity": "0.947±0.022"},
})
TABLE_VI = PaperTable(PAPER, "Table VI", "RMC and DA_RMC on BraTS2019 under T1ce", columns=COLUMNS, rows={
    "RMC": {"auc": "0.901±0.023", "acc": "0.911±0.031", "sensitivity": "0.882±0.037", "specificity": "0.919±0.041"},
    "DA_RMC": {"auc": "0.930±0.028", "acc": "0.928±0.009", "sensitivity": "0.933±0.061", "specificity": "0.927±0.006"},
})

# Table VII: the guidance model with every subset of secondary modalities.
TABLE_VII_2018 = PaperTable(PAPER, "Table VII", "guidance-aided module with modalities available or missing, BraTS2018",
                            columns=COLUMNS, rows={
    "T1ce": cells("0.941±0.020", "0.944±0.012", "0.932±0.049", "0.942±0.014"),
    "T1ce + Flair": cells("0.946±0.022", "0.950±0.022", "0.939±0.071", "0.957±0.042"),
    "T1ce + T1": cells("0.954±0.021", "0.954±0.025", "0.981±0.022", "0.957±0.042"),
    "T1ce + T2": cells("0.952±0.025", "0.947±0.028", "0.981±0.022", "0.947±0.049"),
    "T1ce + T1 + T2": cells("0.957±0.012", "0.950±0.022", "0.955±0.007", "0.947±0.049"),
    "T1ce + Flair + T2": cells("0.952±0.018", "0.939±0.016", "0.976±0.041", "0.927±0.025"),
    "T1ce + Flair + T1": cells("0.964±0.011", "0.954±0.027", "0.985±0.026", "0.947±0.049"),
    "T1ce + Flair + T1 + T2": cells("0.985±0.019", "0.979±0.028", "1.000±0.000", "0.971±0.039"),
})
TABLE_VII_2019 = PaperTable(PAPER, "Table VII", "guidance-aided module with modalities available or missing, BraTS2019",
                            columns=COLUMNS, rows={
    "T1ce": cells("0.930±0.028", "0.928±0.009", "0.933±0.061", "0.927±0.006"),
    "T1ce + Flair": cells("0.935±0.059", "0.955±0.024", "0.887±0.114", "0.969±0.006"),
    "T1ce + T1": cells("0.931±0.056", "0.949±0.019", "0.899±0.116", "0.962±0.005"),
    "T1ce + T2": cells("0.930±0.059", "0.953±0.027", "0.899±0.116", "0.973±0.007"),
    "T1ce + T1 + T2": cells("0.948±0.038", "0.958±0.021", "0.930±0.068", "0.966±0.013"),
    "T1ce + Flair + T2": cells("0.947±0.038", "0.961±0.019", "0.924±0.069", "0.970±0.007"),
    "T1ce + Flair + T1": cells("0.950±0.037", "0.961±0.019", "0.930±0.068", "0.970±0.007"),
    "T1ce + Flair + T1 + T2": cells("0.966±0.021", "0.970±0.010", "0.958±0.039", "0.974±0.065"),
})

# Table VIII: the guidance model against the other grading methods.
TABLE_VIII_2018 = PaperTable(PAPER, "Table VIII", "comparison with other grading methods, BraTS2018", columns=COLUMNS, rows={
    "RMC (T1ce)": cells("0.917±0.061", "0.926±0.038", "0.933±0.046", "0.900±0.075"),
    "Pixel fusion": cells("0.886±0.011", "0.868±0.021", "0.920±0.069", "0.853±0.047"),
    "Feature fusion": cells("0.620±0.011", "0.706±0.027", "0.428±0.032", "0.812±0.035"),
    "Decision fusion": cells("0.610±0.029", "0.677±0.016", "0.474±0.075", "0.746±0.028"),
    "AGG": cells("0.758±0.033", "0.751±0.052", "0.773±0.023", "0.743±0.074"),
    "MMD-VAE": cells("0.905±0.082", "0.930±0.061", "0.853±0.129", "0.957±0.038"),
    "Ours": cells("0.985±0.019", "0.979±0.028", "1.000±0.000", "0.971±0.039"),
})
TABLE_VIII_2019 = PaperTable(PAPER, "Table VIII", "comparison with other grading methods, BraTS2019", columns=COLUMNS, rows={
    "RMC (T1ce)": cells("0.901±0.023", "0.911±0.031", "0.882±0.037", "0.919±0.041"),
    "Pixel fusion": cells("0.837±0.000", "0.901±0.000", "0.720±0.000", "0.954±0.000"),
    "Feature fusion": cells("0.636±0.013", "0.747±0.026", "0.439±0.054", "0.834±0.048"),
    "Decision fusion": cells("0.632±0.046", "0.789±0.024", "0.362±0.080", "0.902±0.035"),
    "AGG": cells("0.835±0.007", "0.796±0.010", "0.907±0.023", "0.764±0.018"),
    "MMD-VAE": cells("0.943±0.023", "0.942±0.028", "0.907±0.046", "0.977±0.012"),
    "Ours": cells("0.966±0.021", "0.970±0.010", "0.958±0.039", "0.974±0.065"),
})


# The chapters' full-scale settings (Sec. IV-A and IV-C): BraTS on a GPU, by parameters only.
_PAPER_TRAINING = {"dataset": "brats2018", "data_root": "/path/to/data", "spatial_size": (150, 240, 240),
                   "width": 1.0, "batch_size": 1, "lr": 1e-5, "device": "cuda", "precision": "amp",
                   "kinetics_weights": "mc3_18-kinetics.pth"}
_KINETICS_NOTE = ("<code>kinetics_weights</code> is a torchvision-format <code>mc3_18</code> Kinetics-400 "
                  "state_dict that you obtain yourself (no download happens at run time); without it the RMCs "
                  "start from a random initialisation. Use <code>dataset=\"brats2019\"</code> for the BraTS2019 "
                  "columns.")

FULL_SCALE_UNIMODAL = FullScale(
    "guidance/unimodal", {**_PAPER_TRAINING, "max_epochs": 200, "checkpoint_dir": "checkpoints/unimodal"},
    source="Sec. IV-C: Adam at lr 1e-5, 200 epochs, batch 1, Kinetics-pretrained RMC", note=_KINETICS_NOTE,
    tag="brats2018")
FULL_SCALE_GUIDANCE = FullScale(
    "guidance/guidance-model",
    {**_PAPER_TRAINING, "secondaries": ("t2", "flair", "t1"), "stage1_epochs": 200, "stage2_epochs": 50,
     "checkpoint_dir": "checkpoints/guidance"},
    source="Sec. IV-C and Algorithm 1: T_p = 200 and T_s = 50 epochs; secondaries in the paper's priority order",
    note=_KINETICS_NOTE + " The paper reports about 12 hours for stage 1 and 10 hours for stage 2 on one GPU. "
    "Pass sequences as lists on the command line (papermill hands a tuple over as its string). With the same "
    "<code>checkpoint_dir</code>, the other subsets of Table VII reuse each fold's stage 1 and train stage 2 only.",
    tag="brats2018-all")
FULL_SCALE_FUSION = FullScale(
    "guidance/fusion-baselines",
    {**_PAPER_TRAINING, "max_epochs": 200, "agg_roi_size": (64, 96, 96), "checkpoint_dir": "checkpoints/fusion"},
    source="Sec. IV-F: the fusion baselines on the pre-trained RMC, the paper's training settings",
    note=_KINETICS_NOTE + " AGG's tumour box grows with the input; (64, 96, 96) holds a BraTS tumour. Feature and "
    "decision fusion hold four RMCs each: at 150 x 240 x 240 and batch 1 they need about four times the memory of one "
    "RMC (<code>benchmarks/guidance_speed.py</code> measures one RMC's).",
    tag="brats2018")
