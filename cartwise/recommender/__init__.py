"""The hybrid recommendation model: co-occurrence, content and popularity, blended per item.

Pure Python + numpy/scipy: no Flask, no database, no network (layer 2, imports layer 0 only).
"""

from cartwise.recommender.hybrid import HybridRecommender as HybridRecommender
from cartwise.recommender.types import Interaction as Interaction
from cartwise.recommender.types import Item as Item
from cartwise.recommender.types import Recommendation as Recommendation

__all__ = ["HybridRecommender", "Interaction", "Item", "Recommendation"]
