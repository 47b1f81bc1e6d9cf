"""cfmimo: an executable companion to "Quantum Neural Networks for Optimal Resource
Allocation in Cell-Free MIMO Systems" (Narottama & Duong, 2022).

Every module, one line each, grouped by the paper's sections (``book/equations.md`` maps
each equation to its functions). A new module gets its line here, in its group:
``tests/test_package_doc.py`` fails until it has one.

System model (Section II)

* :mod:`cfmimo.config` - validated, immutable parameters (Table II and the documented choices) and the ``paper``/``smoke`` presets
* :mod:`cfmimo.channel` - channels of Eq. (1)-(2): distances, Rayleigh gains, steering vectors, imperfect CSI
* :mod:`cfmimo.rates` - rates, reward, ideal capacity and losses: Eq. (3)-(5), (8), (11), (12), (18)
* :mod:`cfmimo.baselines` - the exhaustive max-min optimum (Eq. 7) and classical heuristics (greedy, local search, strongest AP, random)

The QNN and its decisions (Section III-A)

* :mod:`cfmimo.qnn` - the circuits of Eq. (13)-(15) and the registry of circuit variants (``paper``, ``reupload``, ``scoring``), their encoding and decoders
* :mod:`cfmimo.engine` - the exact batched statevector engine: compiled circuits, forward, adjoint gradients, light cones
* :mod:`cfmimo.features` - the per-link features the per-user models see, as rotation angles
* :mod:`cfmimo.decoders` - from per-AP distributions to one assignment: covering argmax, top-k, re-ranking by the rate formula
* :mod:`cfmimo.policies` - the :class:`~cfmimo.policies.Policy` type and the registry of classical policies
* :mod:`cfmimo.learned` - the registry of learned policies (model builder plus decoder)

Training (Algorithm 1, Appendix A)

* :mod:`cfmimo.train` - training and deployment of every variant through the recipe it names (``RECIPES``), and cached runs
* :mod:`cfmimo.algorithm1` - Algorithm 1, the recipe of the ``paper`` variant: SGD on the decoded Eq. (11) loss with the shift rules
* :mod:`cfmimo.reupload` - the recipe of the ``reupload`` variant: Adam on exact probabilities with adjoint gradients
* :mod:`cfmimo.loop` - the one training loop skeleton (epochs, minibatch order, optimisers, history, checkpoints) every method plugs into
* :mod:`cfmimo.weights` - weight files, checkpoints and the cache of deterministic training runs
* :mod:`cfmimo.scoring` - the one-qubit-per-AP scoring QNN, its classical twin and their shared training recipe
* :mod:`cfmimo.bloch` - readout design (i), each AP's qubit alone picking a user from its Bloch vector: shown beside the scoring QNN, it does not scale
* :mod:`cfmimo.classical` - the perceptron baseline of comparable parameter count

The paper's derivations and claims (Section III-C, Appendix B, the errata)

* :mod:`cfmimo.gradients` - the parameter-shift rules of Eq. (17) and (25), as printed and as correct, and the RY conventions
* :mod:`cfmimo.lemma2` - Lemma 2 on one qubit: Eq. (16), (19), (26)-(31) checked by closed form, quadrature and Monte Carlo
* :mod:`cfmimo.lemma2_circuits` - Lemma 2 on whole circuits (Eq. 19, 22, 23): expected squared gradient norms of the registered circuits
* :mod:`cfmimo.decoded_loss` - Eq. (18) with both signs of footnote 2's penalty, the floor-decoded loss of Algorithm 1
* :mod:`cfmimo.claims` - the claims that are not about gradients: Lemma 1 counts, Eq. (2), claims 1 and 2, footnote 5, the open settings
* :mod:`cfmimo.readings` - the literal circuit of Eq. (13)-(15) under every reading the text allows

Hardware (footnote 3)

* :mod:`cfmimo.circuit_io` - the one parameter binder, x/theta broadcaster, seed rule and bit decoder of every simulator and backend
* :mod:`cfmimo.backends` - IBM fake (noisy, offline) and real backends by name, credentials and their redaction
* :mod:`cfmimo.execution` - transpiling to a backend's ISA, running, counts to probabilities, decisions from a backend; the Aer sampler of the logical circuit
* :mod:`cfmimo.noise_study` - notebook 06's experiment: how often shot and device noise change the decision

Results (Section IV)

* :mod:`cfmimo.evaluate` - scoring a policy's decisions on Monte-Carlo channels (physical rates, confidence intervals)
* :mod:`cfmimo.results` - the Monte-Carlo study of Fig. 3: every policy on the same channels over SNR and distance
* :mod:`cfmimo.scaling` - shares of a reference min-rate at larger sizes (notebook 07)
* :mod:`cfmimo.stats` - confidence intervals
* :mod:`cfmimo.plots` - plot helpers: labelled axes with units, confidence bands
* :mod:`cfmimo.timing` - wall-clock measurements the book quotes as ratios (the engine against Aer, exhaustive search against a loop)
* :mod:`cfmimo.tables` - the one Markdown table builder

Running the book

* :mod:`cfmimo.notebooks` - atomic, reproducible papermill execution of the notebooks and :func:`~cfmimo.notebooks.glue_values`
* :mod:`cfmimo.equations` - the equation index (``book/equations.md``) generated from the docstrings' References sections
* :mod:`cfmimo.sweep` - a notebook over a parameter grid with papermill, resumably
* :mod:`cfmimo.distributed` - sweeps and Monte-Carlo studies on Dask, with the same results as a serial run
"""

__version__ = "0.1.0"
