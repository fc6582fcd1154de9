"""Self-Cure Network (Wang et al., "Suppressing Uncertainties for Large-Scale Facial Expression
Recognition", CVPR 2020): learning from noisy expression labels.

Three parts, all training-time only (the exported network is the plain classifier: the importance weight
scales all logits of a face alike, so it never changes the predicted class):

1. an importance branch ``alpha = sigmoid(w . pooled_features)`` whose value multiplies the logits in the
   cross-entropy, so faces the network finds ambiguous contribute flatter, smaller gradients;
2. rank regularisation: within each batch the mean importance of the top 70% must exceed that of the rest
   by a margin (0.15), so the branch has to tell certain from uncertain faces apart;
3. relabelling, from a given epoch on: a face in the low-importance group whose most probable class beats
   the probability of its given label by more than 0.2 takes that class as its new (one-hot) label.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SelfCure(nn.Module):
    def __init__(self, feature_dim: int, margin: float = 0.15, high_share: float = 0.7,
                 relabel_margin: float = 0.2) -> None:
        super().__init__()
        self.importance = nn.Sequential(nn.Linear(feature_dim, 1), nn.Sigmoid())
        self.margin, self.high_share, self.relabel_margin = margin, high_share, relabel_margin

    def rank_regularisation(self, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hinge on (mean of the high group - mean of the low group); also returns the low group's mask."""
        ordered, order = torch.sort(alpha, descending=True)
        high = max(1, min(len(alpha) - 1, int(round(self.high_share * len(alpha)))))
        low_mask = torch.zeros_like(alpha, dtype=torch.bool)
        low_mask[order[high:]] = True
        if len(alpha) < 2:
            return alpha.sum() * 0.0, low_mask
        gap = ordered[:high].mean() - ordered[high:].mean()
        return F.relu(self.margin - gap), low_mask

    def loss(self, pooled: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Importance-weighted soft cross-entropy plus rank regularisation; returns it and the low-group mask."""
        alpha = self.importance(pooled).squeeze(1)
        weighted = alpha[:, None] * logits
        classification = -(targets * F.log_softmax(weighted, dim=1)).sum(dim=1).mean()
        regularisation, low = self.rank_regularisation(alpha)
        return classification + regularisation, low

    @torch.no_grad()
    def relabel(self, logits: torch.Tensor, targets: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        """New targets for the batch: low-group faces confidently predicted as another class take it."""
        probabilities = F.softmax(logits, dim=1)
        given = targets.argmax(dim=1)
        best, predicted = probabilities.max(dim=1)
        change = low & (predicted != given) & (best - probabilities.gather(1, given[:, None]).squeeze(1) > self.relabel_margin)
        updated = targets.clone()
        updated[change] = F.one_hot(predicted[change], targets.shape[1]).to(targets.dtype)
        return updated
