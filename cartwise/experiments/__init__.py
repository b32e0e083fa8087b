"""Experiments: hashed arm assignment, attribution, per-arm KPIs, significance tests, and
Thompson-sampling exploration.

Pure logic (layer 2): imports only layer 0 plus numpy and scipy; no storage, no Flask, no network.
"""

from cartwise.experiments.anomalies import Anomaly as Anomaly
from cartwise.experiments.anomalies import Silence as Silence
from cartwise.experiments.anomalies import detect as detect
from cartwise.experiments.anomalies import ewma_zscores as ewma_zscores
from cartwise.experiments.anomalies import silence as silence
from cartwise.experiments.assignment import Arm as Arm
from cartwise.experiments.assignment import Assignment as Assignment
from cartwise.experiments.assignment import Experiment as Experiment
from cartwise.experiments.assignment import assign as assign
from cartwise.experiments.attribution import AttributedOrder as AttributedOrder
from cartwise.experiments.attribution import Exposure as Exposure
from cartwise.experiments.attribution import Interaction as Interaction
from cartwise.experiments.attribution import OrderFact as OrderFact
from cartwise.experiments.attribution import OrderLineFact as OrderLineFact
from cartwise.experiments.attribution import attribute as attribute
from cartwise.experiments.bandit import ItemStats as ItemStats
from cartwise.experiments.bandit import choose as choose
from cartwise.experiments.bandit import exploration_slots as exploration_slots
from cartwise.experiments.kpis import ArmComparison as ArmComparison
from cartwise.experiments.kpis import ArmKpis as ArmKpis
from cartwise.experiments.kpis import PlacementKpis as PlacementKpis
from cartwise.experiments.kpis import arm_kpis as arm_kpis
from cartwise.experiments.kpis import compare as compare
from cartwise.experiments.statistics import ChiSquareTest as ChiSquareTest
from cartwise.experiments.statistics import Decision as Decision
from cartwise.experiments.statistics import ProportionTest as ProportionTest
from cartwise.experiments.statistics import SummaryStats as SummaryStats
from cartwise.experiments.statistics import WelchTest as WelchTest
from cartwise.experiments.statistics import chi_square_2xk as chi_square_2xk
from cartwise.experiments.statistics import decide as decide
from cartwise.experiments.statistics import (
    sample_size_two_proportions as sample_size_two_proportions,
)
from cartwise.experiments.statistics import two_proportion_z_test as two_proportion_z_test
from cartwise.experiments.statistics import welch_t_test as welch_t_test

__all__ = [
    "Anomaly",
    "Arm",
    "ArmComparison",
    "ArmKpis",
    "Assignment",
    "AttributedOrder",
    "ChiSquareTest",
    "Decision",
    "Experiment",
    "Exposure",
    "Interaction",
    "ItemStats",
    "OrderFact",
    "OrderLineFact",
    "PlacementKpis",
    "ProportionTest",
    "Silence",
    "SummaryStats",
    "WelchTest",
    "arm_kpis",
    "assign",
    "attribute",
    "chi_square_2xk",
    "choose",
    "compare",
    "decide",
    "detect",
    "ewma_zscores",
    "exploration_slots",
    "sample_size_two_proportions",
    "silence",
    "two_proportion_z_test",
    "welch_t_test",
]
