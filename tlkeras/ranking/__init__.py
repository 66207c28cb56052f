"""Choosing a backbone before training: transferability scores over candidate backbones.

`rank_backbones` runs each candidate once, frozen, over the labelled data and
scores its features (LogME, LEEP, NCE, H-score, k-NN, linear probe; see
`tlkeras.analysis.transferability_scores`); `RankingReport` renders the result.
"""

from tlkeras.ranking.backbone_ranking import rank_backbones
from tlkeras.ranking.ranking_report import RankingReport

__all__ = ["RankingReport", "rank_backbones"]
