"""Synthetic phantom cohorts: the embedded default data the book builds with when no real data is present.

Every generator is deterministic for a given ``seed`` and starts from the real
MNI152 template shipped inside nilearn's wheel (no download): grey matter, white
matter and CSF fractions resampled onto a small isotropic grid with a correct MNI
affine (:mod:`.anatomy`). Each sequence's contrast follows from the tissue
fractions (T1: WM > GM > CSF; T2: CSF bright; FLAIR: CSF dark), then MONAI adds a
smooth bias field and Rician (MR) or Gaussian (CT, parametric maps) noise
(:mod:`.mri`).

The label of a case is never carried by a trivial cue (no global intensity
offset, no fixed size threshold, no flag voxel): it shifts the *distributions* of
realistic lesion or network parameters, which overlap between classes. Every
classifying generator has a ``difficulty`` knob in [0, 1]: at 0 the class means
of those parameters are as listed in each module (well separated); as it rises
they are pulled towards their common mean; at 1 the classes share one
distribution and nothing can beat chance (:mod:`.sampling`). Within-class spread
never changes. At the default 0.5 a logistic regression on a few summary
features scores a cross-validated AUC of roughly 0.8-0.95.

Generators (all keyword-only; each returns a :class:`PhantomCohort`):

- :func:`glioma_phantoms` (:mod:`.glioma`): T1, T1ce, T2, FLAIR + BraTS masks
  (1 necrotic / non-enhancing core, 2 edema, 4 enhancing). ``task="grade"``: HGG
  vs LGG about 3:1 (BraTS2018 210/75); HGG larger, more irregular, with an
  enhancing rim, a necrotic core and more edema. ``task="glioma_vs_metastasis"``:
  metastases small, round, often several, at the grey-white junction, with edema
  disproportionate to their size; gliomas single, larger, infiltrative, in deep
  white matter. Enhancement shows only on T1ce, edema mostly on FLAIR/T2, T1 is
  weakly informative, so per-modality classifiers differ (T1ce best for grading).
- :func:`stroke_phantoms` (:mod:`.stroke`): ADC, CBF, CBV, MTT, TTP in physical
  units with an MCA-territory core (label 1) and penumbra (label 2); HT : no-HT
  11 : 60 as in M3's Table 2. HT cases have larger cores, lower core CBV / CBF /
  ADC and longer MTT / TTP delays, each only on average.
- :func:`alzheimer_phantoms` (:mod:`.alzheimer`): paired T1 and 4-D rs-fMRI for
  NC / MCI / AD (MASAN's 64 : 70 : 72): hippocampal and amygdala atrophy (placed
  by MNI coordinates), cortical thinning, and weaker default-mode coupling of
  network time series built on the Dosenbach 2010 regions shipped with nilearn;
  MCI lies in between.
- :func:`image_fusion_phantoms` (:mod:`.fusion`): co-registered CT-like (bright skull,
  low soft-tissue contrast) and T2-MRI-like (sharp GM / WM / CSF) 2-D axial
  slices; each series is one "patient" with its own small affine deformation and
  intensity scaling, so splits group by ``series``. No labels, no knob.

``PhantomCohort.to_nifti`` writes a cohort in the real data's folder layouts
(BraTS 2018 ``HGG/`` / ``LGG/`` trees, or one folder per case plus
``labels.csv``), so the real loaders read phantoms like scans.
"""

from mmlib.data.phantoms.alzheimer import alzheimer_phantoms
from mmlib.data.phantoms.cohort import PhantomCohort
from mmlib.data.phantoms.image_fusion import image_fusion_phantoms
from mmlib.data.phantoms.glioma import glioma_phantoms
from mmlib.data.phantoms.stroke import stroke_phantoms

__all__ = ["PhantomCohort", "alzheimer_phantoms", "image_fusion_phantoms", "glioma_phantoms", "stroke_phantoms"]
