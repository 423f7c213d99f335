"""Network blocks shared by the papers' models.

* :mod:`mmlib.nets.attention`: DANet-style dual attention for volumes
  (position + slice attention).
* :mod:`mmlib.nets.perceptual`: VGG16-BN / VGG19 feature stacks with
  torchvision's parameter names (perceptual losses, zero-learning fusion).

A paper's own networks live in its package under :mod:`mmlib.papers`. Where
MONAI has a network (ResNets, U-Nets, ...), build on it instead of adding one here.
"""
