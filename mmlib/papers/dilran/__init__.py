"""CT-MRI image fusion with DILRAN, the dilated residual attention autoencoder (Zhou, Xu & Zhang).

Paper: ``../shared/papers/dilran-ct-mri-fusion.txt``. In this package "fusion"
always means *image* fusion: two images become one (classifiers that combine
modalities say "modality fusion", :mod:`mmlib.papers.guidance.modality_fusion`).

* :mod:`~mmlib.papers.dilran.paper`: Tables 1-2 typed once, the metric conventions
  of their columns, and the full-scale settings of the training chapter.
* Networks: :mod:`~mmlib.papers.dilran.model` (DILRAN),
  :mod:`~mmlib.papers.dilran.fusion_rules` (SFNN, FER, FL1N, ...),
  :mod:`~mmlib.papers.dilran.baselines` (the Table 2 baselines),
  :mod:`~mmlib.papers.dilran.color` (PET-MRI through the luminance).
* Training: :mod:`~mmlib.papers.dilran.training` (Eq. 2 loss, the loop).
* Metrics: :mod:`~mmlib.papers.dilran.image_metrics` (the Tables 1-2 suite),
  :mod:`~mmlib.papers.dilran.fsim`, :mod:`~mmlib.papers.dilran.mutual_info`.
* :mod:`~mmlib.papers.dilran.splits` (the authors' and the series split),
  :mod:`~mmlib.papers.dilran.protocol` (one training run, as the chapter runs it),
  :mod:`~mmlib.papers.dilran.scoring` (the untrained Table 2 rows),
  :mod:`~mmlib.papers.dilran.results` (the committed runs beside Tables 1-2),
  :mod:`~mmlib.papers.dilran.inspection` (receptive fields, the authors' block),
  :mod:`~mmlib.papers.dilran.figures` (Figures 2-3).
"""
