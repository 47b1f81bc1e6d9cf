"""cfmimo: an executable companion to "Quantum Neural Networks for Optimal Resource
Allocation in Cell-Free MIMO Systems" (Narottama & Duong, 2022).

Modules, by topic:

* :mod:`cfmimo.config` - validated, immutable parameters and the ``paper``/``smoke`` presets
* :mod:`cfmimo.channel` - Eq. (1)-(2) channels with imperfect CSI
* :mod:`cfmimo.rates` - Eq. (3)-(5), (8), (11), (12), (18)
* :mod:`cfmimo.baselines` - exhaustive max-min optimum and heuristics
* :mod:`cfmimo.stats` - confidence intervals
"""

__version__ = "0.1.0"
