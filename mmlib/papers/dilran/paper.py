"""The DILRAN paper's numbers and settings, typed in once (Zhou, Xu & Zhang; Tables 1-2, Sec. 2.1, 2.3, 3.1).

Quoted from ``../shared/papers/dilran-ct-mri-fusion.txt``:

* :data:`TABLE_1` (fusion strategies) and :data:`TABLE_2` (baselines), as printed
  (means over the 20 test pairs, no standard deviations). The paper's columns are
  PSNR, SSIM, MI, FMI-pixel, FSIM and Entropy (here ``EN``).
* :data:`CONVENTIONS`: which variant of the metric suite
  (:func:`mmlib.papers.dilran.image_metrics.fusion_metric_suite`) reads each column,
  with the authors' conventions (their code, NOTES.md "Metrics in their code") or
  the textbook ones.
* :data:`RULE_ROWS`: the Table 1 row of each fusion rule of
  :mod:`mmlib.papers.dilran.fusion_rules` (plus the rows the paper does not have).
* :data:`PAPER_SCHEDULE` (Sec. 2.1, 2.3) and :data:`FULL_SCALE`, the parameters of
  ``book/dilran/training.md`` that turn its CPU build into that schedule.
"""

from __future__ import annotations

from mmlib.eval.tables import PaperTable
from mmlib.runs.full_scale import FullScale

PAPER = "dilran-ct-mri-fusion.txt"

#: Sec. 2.1: "The dataset contains 184 pairs ... We randomly hold out 20 image pairs for testing".
N_PAIRS, N_TEST_PAIRS = 184, 20
#: The authors' seed (``np.random.seed(3407)`` in their code; NOTES.md).
PAPER_SEED = 3407

#: The paper's Table 1-2 columns, read with the authors' conventions (NOTES.md, "Metrics in their code"):
#: torchmetrics' 11x11 Gaussian SSIM (border cropped, as before torchmetrics 1.4.2), Haghighat's FMI with
#: its default feature 'edge', the authors' 6-orientation FSIM with Zhang's constants on the [0, 255]
#: scale, entropy of the float image's distinct values; and for "MI" what their MATLAB script printed,
#: the 256-bin entropy of the saved fused JPEG (``en_saved_jpeg``, confirmed under Octave:
#: ``results/dilran/mi-check/``), which is not a mutual information. FSIM on the [0, 255] scale, not
#: on the [0, 1] input their Python code passes (``fsim_unit``, about 0.97 for every method), is the
#: reading that reproduces the paper's column with their released checkpoint (NOTES.md: 0.825 against
#: the paper's 0.820). The true MIs stay in the suite (``mi_mean``, their Python code's; ``mi_qu``).
AUTHORS_COLUMNS = {"PSNR": "psnr", "SSIM": "ssim_gaussian", "MI": "en_saved_jpeg", "FMI-pixel": "fmi_edge",
                   "FSIM": "fsim", "EN": "en_float_unique"}
#: The same columns read with the metrics' textbook definitions: scikit-image SSIM, Qu's MI (a true
#: mutual information), FMI on pixels, Zhang's 4-orientation FSIM (as ``FeatureSIM.m`` and piq), 8-bit
#: entropy.
STANDARD_COLUMNS = {"PSNR": "psnr", "SSIM": "ssim", "MI": "mi_qu", "FMI-pixel": "fmi_none",
                    "FSIM": "fsim_zhang", "EN": "en_256"}
CONVENTIONS = {"authors": AUTHORS_COLUMNS, "standard": STANDARD_COLUMNS}
#: The columns of Tables 1 and 2, in the paper's order.
COLUMNS = list(AUTHORS_COLUMNS)

#: What each variant of the metric suite computes (NOTES.md, "Metrics in their code").
METRIC_VARIANTS = {
    "psnr": "data_range 1 (both)", "ssim": "7x7 uniform window (scikit-image)",
    "ssim_gaussian": "11x11 Gaussian, border cropped (scikit-image; torchmetrics < 1.4.2, the authors')",
    "ssim_torchmetrics": "11x11 Gaussian, whole reflect-padded map (torchmetrics >= 1.4.2)",
    "mi_mean": "(MI(F,CT) + MI(F,MR)) / 2, nats (the authors' Python code)",
    "mi_qu": "MI(F,CT) + MI(F,MR) (Qu et al.)",
    "fmi_none": "FMI on pixels", "fmi_edge": "FMI on Sobel edges (fmi.m default, the authors')",
    "fsim": "FSIM, [0, 255] scale, 6 orientations (the authors' bank, Zhang's constants): the paper's column",
    "fsim_zhang": "FSIM, [0, 255] scale, 4 orientations (Zhang et al.; piq)",
    "fsim_unit": "FSIM on [0, 1] input, 6 orientations (the authors' Python call as written)",
    "en_256": "8-bit histogram entropy (at most 8 bits)",
    "en_saved_jpeg": "8-bit entropy of the saved JPEG: the paper's MI column (the authors' MATLAB script)",
    "en_float_unique": "entropy of the float image's distinct values, fp32 (the authors')",
}

#: Table 1: "Comparison between different fusion strategies" (one trained DILRAN, Sec. 3.1).
TABLE_1 = PaperTable(PAPER, "Table 1", "Comparison between different fusion strategies", columns=COLUMNS, rows={
    "FER [9]": {"PSNR": 13.944, "SSIM": 0.736, "MI": 4.551, "FMI-pixel": 0.876, "FSIM": 0.806, "EN": 8.720},
    "FL1N [10]": {"PSNR": 15.979, "SSIM": 0.739, "MI": 4.569, "FMI-pixel": 0.878, "FSIM": 0.813, "EN": 9.782},
    "SFNN (mean)": {"PSNR": 15.876, "SSIM": 0.740, "MI": 4.578, "FMI-pixel": 0.876, "FSIM": 0.812, "EN": 9.772},
    "SFNN (max)": {"PSNR": 16.413, "SSIM": 0.740, "MI": 4.558, "FMI-pixel": 0.891, "FSIM": 0.820, "EN": 9.816},
    "SFNN (sum)": {"PSNR": 15.876, "SSIM": 0.740, "MI": 4.578, "FMI-pixel": 0.876, "FSIM": 0.812, "EN": 9.772},
})

#: Table 2: "Comparison between different methods" (the paper spells MSRPAN "MSPRAN").
TABLE_2 = PaperTable(PAPER, "Table 2", "Comparison between different methods", columns=COLUMNS, rows={
    "Zero-shot [14]": {"PSNR": 13.525, "SSIM": 0.681, "MI": 4.633, "FMI-pixel": 0.836, "FSIM": 0.738, "EN": 4.279},
    "MSDRA [10]": {"PSNR": 15.693, "SSIM": 0.697, "MI": 4.586, "FMI-pixel": 0.867, "FSIM": 0.797, "EN": 8.167},
    "MSPRAN [9]": {"PSNR": 14.528, "SSIM": 0.741, "MI": 4.652, "FMI-pixel": 0.874, "FSIM": 0.808, "EN": 8.969},
    "Ours": {"PSNR": 16.413, "SSIM": 0.740, "MI": 4.558, "FMI-pixel": 0.891, "FSIM": 0.820, "EN": 9.816},
})

#: The Table 1 row of each fusion rule (:data:`mmlib.papers.dilran.fusion_rules.RULES` names); the
#: last three are rows the paper does not have: the squared SFNN of the authors' code (NOTES.md),
#: plain addition and averaging of the two feature maps.
RULE_ROWS = {"fer": "FER [9]", "fl1n": "FL1N [10]", "sfnn-mean": "SFNN (mean)", "sfnn-max": "SFNN (max)",
             "sfnn-sum": "SFNN (sum)", "sfnn-max-sq": "SFNN (max², authors' code)", "add": "addition",
             "avg": "average"}

#: The training schedule of Sec. 2.1 and 2.3, as parameters of ``book/dilran/training.md``: whole
#: 256 x 256 images, all training pairs, Adam at lr 1e-4, batch 4, 100 epochs, lambda1 = lambda2 = 0.2,
#: seed 3407 (the authors' code, NOTES.md).
PAPER_SCHEDULE = {"max_epochs": 100, "image_size": 256, "max_train_images": None, "train_crop": None,
                  "batch_size": 4, "lr": 1e-4, "lambda_perceptual": 0.2, "lambda_gradient": 0.2, "seed": PAPER_SEED}

#: torchvision's ImageNet VGG16-BN weights file (``torchvision.models.vgg16_bn(weights="IMAGENET1K_V1")``
#: downloads it into torch.hub's cache, ``~/.cache/torch/hub/checkpoints/``); give its local path.
VGG16_BN_WEIGHTS = "vgg16_bn-6c64b313.pth"

#: ``book/dilran/training.md`` at the paper's setting: every parameter whose CPU default differs.
FULL_SCALE = FullScale(
    "dilran/training",
    {
        **{name: PAPER_SCHEDULE[name] for name in ("max_epochs", "image_size", "max_train_images")},
        "vgg_weights": VGG16_BN_WEIGHTS,
        "precision": "fp32",
        "eval_rules": "table1",
    },
    source="Sec. 2.3 and 3.1",
    note=("The paper's perceptual network is ImageNet VGG16-BN: <code>vgg_weights</code> names torchvision's "
          "<code>vgg16_bn-6c64b313.pth</code>: the file torchvision downloads into "
          "<code>~/.cache/torch/hub/checkpoints/</code> (copy it from a machine that has torchvision and internet, "
          "and give its path); without it the loss uses a fixed random VGG16-BN. "
          "<code>precision=\"fp32\"</code> trains in plain float32, PyTorch's default (the paper states no "
          "precision; <code>\"auto\"</code> would use float16 AMP on a GPU). <code>eval_rules=\"table1\"</code> scores every "
          "fusion rule of Table 1 on the trained model. Add <code>-p out_dir=FOLDER</code> to keep the checkpoints "
          "so that a killed run resumes. A GPU needs minutes; on this project's 2-core CPU even bf16 (the CPU "
          "default) takes about 8 hours per split."),
    folds="0",
)
