"""Adversarial robustness of a trained model on static images: attacks (FGSM, PGD with EoT through the surrogate
gradient) and certified L2 robustness by randomized smoothing (methods §7, docs/methods/rsc.md)."""

from ltsnn.robust.attacks import (NORMS, accuracy_under_attack, attack_surrogate, fgsm, input_gradient, pgd, project,
                                  snn_classifier, static_images)
from ltsnn.robust.certify import (NOISES, certify, certify_dataset, clopper_pearson_lower, predict,
                                  smoothed_classifier, two_sided_binomial_p)

__all__ = ["NOISES", "NORMS", "accuracy_under_attack", "attack_surrogate", "certify", "certify_dataset",
           "clopper_pearson_lower", "fgsm", "input_gradient", "pgd", "predict", "project", "smoothed_classifier",
           "snn_classifier", "static_images", "two_sided_binomial_p"]
