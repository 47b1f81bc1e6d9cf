"""The exact engine against its peers on the project's QNN circuits, in one process.

Rows (each the best of ``--repeat`` runs, B = 100 and B = 1000 inputs, one shared weight
vector):

* ``workload8``: the 8-qubit workload of issue 11: 12 inputs (RY on every qubit, RZ on
  qubits 0-3), 16 weights (two layers of RY on every qubit, each followed by a ring of CX
  gates), <Z> of qubits 0-3. Forward, and forward + the full Jacobian d<Z>/dw.
* ``paper``, ``reupload``: :func:`cfmimo.qnn.build_circuit` at the paper preset (4 APs x
  3 users), <Z> of every measured qubit; forward, and forward + Jacobian.
* ``ap1_4x3``, ``ap1_16x8``: a stand-in for the one-qubit-per-AP QNN of issue 10 (N_AP
  qubits; 3 link features per qubit re-uploaded in L = 2 layers as RY/RZ/RY rotations
  by ``theta * x``; trainable RY and RZ; a ring of CZ gates; <Z> of every qubit).
  Forward, and forward + Jacobian.
* ``reupload_8x4``: the ``reupload`` circuit at 8 APs x 4 users (16 qubits, its CX ring
  leaves no small light cone); forward, and forward + the gradient of a scalar loss (one
  vector-Jacobian product; its Jacobian of 16 outputs is reported too).

Peers: Qiskit Aer ``EstimatorV2`` with one PUB and a parameter array (exact
expectations, ``default_precision = 0``; forward only, plus a parameter-shift gradient
(2P + 1 rows per input) for ``workload8`` at B = 100); PennyLane ``default.qubit`` with
``jax.jit`` (``vmap`` over the batch; Jacobian by ``jacfwd`` and by ``jacrev``, the
faster one is the reference) and ``lightning.qubit`` adjoint differentiation through the
device API, when the optional extra ``.[bench]`` is installed (skipped with a message
otherwise). Peers whose memory would not fit (forward-mode Jacobians of 16-qubit
batches) or whose run would take minutes are skipped with a message.

Usage: .venv/bin/python benchmarks/bench_peers.py [--repeat 3] [--quick]
Prints every time and the ratios, and writes them atomically to
``benchmarks/results/bench_peers.json`` (notebook 04 glues the ratios from it). The
ratios are the numbers to quote: absolute times depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from qiskit.circuit import ParameterVector, QuantumCircuit

from cfmimo import engine, qnn
from cfmimo.config import PAPER, with_overrides
from cfmimo.notebooks import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "bench_peers.json"


# ---------------------------------------------------------------------------------------
# circuits
# ---------------------------------------------------------------------------------------


def workload8() -> QuantumCircuit:
    """The 8-qubit workload of issue 11 (12 inputs, 16 weights, <Z> of qubits 0-3)."""
    x = ParameterVector("x", 12)
    t = ParameterVector("theta", 16)
    qc = QuantumCircuit(8, 4)
    for q in range(8):
        qc.ry(x[q], q)
    for q in range(4):
        qc.rz(x[8 + q], q)
    for layer in range(2):
        for q in range(8):
            qc.ry(t[8 * layer + q], q)
        for q in range(8):
            qc.cx(q, (q + 1) % 8)
    qc.measure(range(4), range(4))
    return qc


def one_qubit_per_ap(n_ap: int, n_feat: int = 3, n_layer: int = 2) -> QuantumCircuit:
    """Stand-in for the one-qubit-per-AP QNN (see the module docstring)."""
    x = ParameterVector("x", n_ap * n_feat)
    t = ParameterVector("theta", n_layer * n_ap * (n_feat + 2))
    qc = QuantumCircuit(n_ap, n_ap)
    qc.h(range(n_ap))
    w = 0
    for _ in range(n_layer):
        for q in range(n_ap):
            for k in range(n_feat):
                (qc.rz if k % 2 else qc.ry)(t[w] * x[q * n_feat + k], q)
                w += 1
        for q in range(n_ap):
            qc.ry(t[w], q)
            qc.rz(t[w + 1], q)
            w += 2
        for q in range(n_ap):
            qc.cz(q, (q + 1) % n_ap)
    qc.measure(range(n_ap), range(n_ap))
    return qc


def project_circuit(config, variant) -> QuantumCircuit:
    return qnn.build_circuit(config, variant)


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def best_time(fn, repeat):
    best = np.inf
    out = None
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return float(best), out


def measured_qubits(qc):
    out = [None] * qc.num_clbits
    for inst in qc.data:
        if inst.operation.name == "measure":
            out[qc.find_bit(inst.clbits[0]).index] = qc.find_bit(inst.qubits[0]).index
    return out


def angle_terms(expr):
    """``(const, [(j, a)], [(i, b)], [(j, i, c)])`` of an angle (weights j, inputs i)."""
    if not hasattr(expr, "parameters"):
        return float(expr), [], [], []
    params = list(expr.parameters)
    zero = {p: 0.0 for p in params}
    const = float(complex(expr.bind(zero).numeric()).real)
    lin_t, lin_x, prod = [], [], []
    for p in params:
        g = expr.gradient(p)
        a = float(complex(g.bind(zero).numeric()).real) if hasattr(g, "bind") else float(complex(g).real)
        if a:
            (lin_t if p.vector.name == "theta" else lin_x).append((p.index, a))
        if p.vector.name == "theta" and hasattr(g, "parameters"):
            for q in params:
                if q.vector.name == "x":
                    c = g.gradient(q)
                    c = float(complex(c.bind(zero).numeric()).real) if hasattr(c, "bind") else float(complex(c).real)
                    if c:
                        prod.append((p.index, q.index, c))
    return const, lin_t, lin_x, prod


def circuit_spec(qc):
    """Gates as ``(name, qubits, angle terms or None)``, measurements dropped."""
    spec = []
    for inst in qc.data:
        name = inst.operation.name
        if name in ("measure", "barrier"):
            continue
        qubits = tuple(qc.find_bit(q).index for q in inst.qubits)
        spec.append((name, qubits, angle_terms(inst.operation.params[0]) if inst.operation.params else None))
    return spec


def column_values(params, x, theta):
    """Aer parameter values ``(B, n_params)`` in the circuit's parameter order."""
    theta = np.broadcast_to(theta, (x.shape[0], theta.shape[-1]))
    return np.stack([(x if p.vector.name == "x" else theta)[:, p.index] for p in params], axis=-1)


# ---------------------------------------------------------------------------------------
# peers
# ---------------------------------------------------------------------------------------


def aer_forward(qc, x, theta, repeat):
    from qiskit_aer.primitives import EstimatorV2

    bare = qc.remove_final_measurements(inplace=False)
    n = bare.num_qubits
    obs = [["".join("Z" if i == q else "I" for i in range(n - 1, -1, -1))] for q in measured_qubits(qc)]
    params = list(bare.parameters)
    values = column_values(params, x, theta)
    estimator = EstimatorV2(options={"default_precision": 0.0})

    def run():
        return np.asarray(estimator.run([(bare, obs, values[None])]).result()[0].data.evs).T  # (B, n_out)

    run()  # warm up (transpilation caches)
    return best_time(run, repeat)


def aer_shift_gradient(qc, x, theta, repeat):
    """Forward + parameter-shift Jacobian through Aer: 2P + 1 rows per input (valid when
    every weight is the angle of exactly one rotation, coefficient 1)."""
    from qiskit_aer.primitives import EstimatorV2

    bare = qc.remove_final_measurements(inplace=False)
    n = bare.num_qubits
    obs = [["".join("Z" if i == q else "I" for i in range(n - 1, -1, -1))] for q in measured_qubits(qc)]
    params = list(bare.parameters)
    P = theta.shape[-1]
    shifts = np.concatenate([np.zeros((1, P)), np.pi / 2 * np.eye(P), -np.pi / 2 * np.eye(P)])
    thetas = theta[None, :] + shifts  # (2P + 1, P)
    B = x.shape[0]
    xx = np.repeat(x, 2 * P + 1, axis=0)
    tt = np.tile(thetas, (B, 1))
    values = column_values(params, xx, tt)
    estimator = EstimatorV2(options={"default_precision": 0.0})

    def run():
        evs = np.asarray(estimator.run([(bare, obs, values[None])]).result()[0].data.evs).T.reshape(B, 2 * P + 1, -1)
        return evs[:, 0], (evs[:, 1 : P + 1] - evs[:, P + 1 :]).transpose(0, 2, 1) / 2.0

    run()
    return best_time(run, repeat)


def pennylane_available():
    try:
        import jax  # noqa: F401
        import pennylane  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None


def pennylane_ops(spec, x, w, qml, xp):
    for name, qubits, terms in spec:
        if terms is None:
            if name in ("cx", "cz"):
                (qml.CNOT if name == "cx" else qml.CZ)(wires=list(qubits))
            else:
                {"h": qml.Hadamard, "x": qml.PauliX, "y": qml.PauliY, "z": qml.PauliZ}[name](wires=qubits[0])
            continue
        const, lt, lx, pr = terms
        angle = const
        for j, a in lt:
            angle = angle + a * w[j]
        for i, b in lx:
            angle = angle + b * x[i]
        for j, i, c in pr:
            angle = angle + c * w[j] * x[i]
        {"rx": qml.RX, "ry": qml.RY, "rz": qml.RZ}[name](angle, wires=qubits[0])


def pennylane_jax(qc, x, theta, repeat, jac, modes=("jacfwd", "jacrev")):
    import jax
    import jax.numpy as jnp
    import pennylane as qml

    jax.config.update("jax_enable_x64", True)
    spec = circuit_spec(qc)
    meas = measured_qubits(qc)
    dev = qml.device("default.qubit", wires=qc.num_qubits)

    @qml.qnode(dev, interface="jax")
    def circuit(xs, w):
        pennylane_ops(spec, xs, w, qml, jnp)
        return [qml.expval(qml.PauliZ(q)) for q in meas]

    def f(xs, w):
        return jnp.stack(circuit(xs, w))

    xj, wj = jnp.asarray(x), jnp.asarray(theta)
    out = {}
    if not jac:
        fn = jax.jit(jax.vmap(f, in_axes=(0, None)))
        fn(xj, wj).block_until_ready()
        t, v = best_time(lambda: fn(xj, wj).block_until_ready(), repeat)
        return {"forward": (t, np.asarray(v))}
    for mode, d in (("jacfwd", jax.jacfwd), ("jacrev", jax.jacrev)):
        if mode not in modes:
            continue
        fn = jax.jit(jax.vmap(lambda xs, w, d=d: (f(xs, w), d(f, argnums=1)(xs, w)), in_axes=(0, None)))
        fn(xj, wj)[1].block_until_ready()
        t, v = best_time(lambda fn=fn: [a.block_until_ready() for a in fn(xj, wj)], repeat)
        out[mode] = (t, (np.asarray(v[0]), np.asarray(v[1])))
    return out


def pennylane_lightning_adjoint(qc, x, theta, repeat):
    """Forward + Jacobian by lightning.qubit adjoint differentiation (device API): the
    Jacobian of every gate angle, chained to the weights by d angle / d theta."""
    import pennylane as qml

    spec = circuit_spec(qc)
    meas = measured_qubits(qc)
    dev = qml.device("lightning.qubit", wires=qc.num_qubits)
    config = qml.devices.ExecutionConfig(gradient_method="adjoint")
    rot = [terms for _, _, terms in spec if terms is not None]
    B, P = x.shape[0], theta.shape[-1]
    # d angle / d theta per row, (B, n_rot, P)
    D = np.zeros((B, len(rot), P))
    for g, (_, lt, _, pr) in enumerate(rot):
        for j, a in lt:
            D[:, g, j] += a
        for j, i, c in pr:
            D[:, g, j] += c * x[:, i]

    def tapes():
        out = []
        for b in range(B):
            with qml.queuing.AnnotatedQueue() as q:
                pennylane_ops(spec, x[b], theta, qml, np)
            tape = qml.tape.QuantumScript.from_queue(q)
            tape = qml.tape.QuantumScript(tape.operations, [qml.expval(qml.PauliZ(m)) for m in meas])
            out.append(tape)
        return out

    def run():
        res, jacs = dev.execute_and_compute_derivatives(tapes(), config)
        vals = np.array([np.asarray(r) for r in res])
        J = np.array([np.array(jb, dtype=float).reshape(len(meas), -1) for jb in jacs])  # (B, n_out, n_rot)
        return vals, np.einsum("bog,bgp->bop", J, D)

    run()
    return best_time(run, repeat)


# ---------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------


def log(*args):
    print(*args, flush=True)


def bench_case(name, qc, batches, repeat, rng, grad="jacobian", peers=True, log=log):
    program = engine.compile_circuit(qc)
    rows = []
    pl_missing = pennylane_available()
    for B in batches:
        x = rng.uniform(0.0, np.pi, (B, program.n_inputs))
        theta = rng.uniform(0.0, 2 * np.pi, program.n_weights)
        row = {"circuit": name, "n_qubits": program.n_qubits, "n_inputs": program.n_inputs, "n_weights": program.n_weights,
               "n_outputs": program.n_measured, "max_cone_qubits": max(program.cone_qubits), "B": B}
        engine.forward(program, x[:2], theta, output="z")  # warm up
        row["engine_forward_s"], z = best_time(lambda: engine.forward(program, x, theta, output="z"), repeat)
        row["engine_jacobian_s"], (z2, jac) = best_time(lambda: engine.jacobian(program, x, theta, output="z"), repeat)
        if grad == "vjp":
            w = rng.normal(size=z.shape)
            row["engine_vjp_s"], _ = best_time(lambda: engine.vjp(program, x, theta, w, output="z"), repeat)
        log(f"{name:13s} B={B:5d} engine: forward {row['engine_forward_s'] * 1e3:9.2f} ms, "
            f"forward+Jacobian {row['engine_jacobian_s'] * 1e3:9.2f} ms"
            + (f", forward+vjp {row['engine_vjp_s'] * 1e3:9.2f} ms" if grad == "vjp" else ""))
        if peers:
            t, evs = aer_forward(qc, x, theta, repeat)
            row["aer_estimator_forward_s"] = t
            row["aer_max_abs_diff"] = float(np.abs(evs - z).max())
            log(f"{'':13s} {'':7s} Aer EstimatorV2 forward {t * 1e3:9.2f} ms ({t / row['engine_forward_s']:.1f}x engine forward, "
                f"{t / row[('engine_vjp_s' if grad == 'vjp' else 'engine_jacobian_s')]:.1f}x engine forward+gradient)")
            if name == "workload8" and B <= 100:
                t, (v, J) = aer_shift_gradient(qc, x, theta, repeat)
                row["aer_estimator_shift_jacobian_s"] = t
                row["aer_shift_max_abs_diff"] = float(np.abs(J - jac).max())
                log(f"{'':21s} Aer EstimatorV2 forward+parameter-shift Jacobian {t * 1e3:9.2f} ms ({t / row['engine_jacobian_s']:.1f}x engine)")
            big = program.n_qubits > 12
            if pl_missing:
                log(f"{'':21s} PennyLane rows skipped: {pl_missing} (pip install -e '.[bench]')")
            elif big:
                log(f"{'':21s} PennyLane rows skipped at {program.n_qubits} qubits: default.qubit + jax.jit needs minutes to "
                    f"compile and a {program.n_weights}-tangent Jacobian of the batch does not fit in memory; lightning "
                    f"adjoint takes minutes per batch")
            else:
                res = pennylane_jax(qc, x, theta, repeat, jac=False)
                row["pl_jax_forward_s"] = res["forward"][0]
                log(f"{'':21s} PennyLane default.qubit + jax.jit forward {row['pl_jax_forward_s'] * 1e3:9.2f} ms "
                    f"({row['pl_jax_forward_s'] / row['engine_forward_s']:.2f}x engine)")
                # forward-mode with many weights compiles for minutes: reverse mode only there
                modes = ("jacfwd", "jacrev") if program.n_weights <= 24 else ("jacrev",)
                res = pennylane_jax(qc, x, theta, repeat, jac=True, modes=modes)
                for mode in modes:
                    row[f"pl_jax_{mode}_s"] = res[mode][0]
                    row[f"pl_jax_{mode}_max_abs_diff"] = float(np.abs(res[mode][1][1] - jac).max())
                row["pl_jax_jacobian_best_s"] = min(row[f"pl_jax_{mode}_s"] for mode in modes)
                log(f"{'':21s} PennyLane default.qubit + jax.jit forward+Jacobian: "
                    + ", ".join(f"{mode} {row[f'pl_jax_{mode}_s'] * 1e3:9.2f} ms" for mode in modes)
                    + f"; engine / best = {row['engine_jacobian_s'] / row['pl_jax_jacobian_best_s']:.2f}")
                if B <= 100:
                    t, (v, J) = pennylane_lightning_adjoint(qc, x, theta, repeat=1)
                    row["pl_lightning_adjoint_s"] = t
                    row["pl_lightning_max_abs_diff"] = float(np.abs(J - jac).max())
                    log(f"{'':21s} PennyLane lightning.qubit adjoint forward+Jacobian {t * 1e3:9.2f} ms "
                        f"({t / row['engine_jacobian_s']:.1f}x engine)")
        rows.append(row)
    return rows


def summary(rows):
    """The ratios notebook 04 quotes (peer time / engine time unless named otherwise)."""
    out = {}
    for r in rows:
        key = f"{r['circuit']}_B{r['B']}"
        if "pl_jax_jacobian_best_s" in r:
            out[f"{key}_engine_over_pl_jax_jacobian"] = r["engine_jacobian_s"] / r["pl_jax_jacobian_best_s"]
        if "pl_jax_forward_s" in r:
            out[f"{key}_pl_jax_forward_over_engine"] = r["pl_jax_forward_s"] / r["engine_forward_s"]
        if "aer_estimator_forward_s" in r:
            out[f"{key}_aer_forward_over_engine_forward"] = r["aer_estimator_forward_s"] / r["engine_forward_s"]
            out[f"{key}_aer_forward_over_engine_jacobian"] = r["aer_estimator_forward_s"] / r["engine_jacobian_s"]
            if "engine_vjp_s" in r:
                out[f"{key}_aer_forward_over_engine_vjp"] = r["aer_estimator_forward_s"] / r["engine_vjp_s"]
        if "aer_estimator_shift_jacobian_s" in r:
            out[f"{key}_aer_shift_jacobian_over_engine"] = r["aer_estimator_shift_jacobian_s"] / r["engine_jacobian_s"]
        if "pl_lightning_adjoint_s" in r:
            out[f"{key}_pl_lightning_over_engine"] = r["pl_lightning_adjoint_s"] / r["engine_jacobian_s"]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="B = 100 only, no 16-qubit rows (a smoke run)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    batches = (100,) if args.quick else (100, 1000)
    cases = [
        ("workload8", workload8(), batches, "jacobian"),
        ("paper", project_circuit(PAPER, "paper"), batches, "jacobian"),
        ("reupload", project_circuit(PAPER, "reupload"), batches, "jacobian"),
        ("ap1_4x3", one_qubit_per_ap(4), batches, "jacobian"),
    ]
    if not args.quick:
        cases += [
            ("ap1_16x8", one_qubit_per_ap(16), (100,), "jacobian"),
            ("reupload_8x4", project_circuit(with_overrides(PAPER, n_ap=8, n_user=4), "reupload"), (100,), "vjp"),
        ]
    rows = []
    start = time.perf_counter()
    for name, qc, bs, grad in cases:
        repeat = args.repeat if qc.num_qubits <= 12 else min(args.repeat, 2)  # 16 qubits: seconds per run
        rows += bench_case(name, qc, bs, repeat, rng, grad=grad)
    data = {
        "note": "times in seconds, best of --repeat runs, all in one process; quote the ratios (the machine may be loaded)",
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
        "repeat": args.repeat,
        "rows": rows,
        "ratios": summary(rows),
        "wall_s": time.perf_counter() - start,
    }
    atomic_write_text(args.out, json.dumps(data, indent=1, sort_keys=True) + "\n")
    print("\nratios (peer time / engine time; engine_over_* = engine time / peer time):")
    for k, v in data["ratios"].items():
        print(f"  {k:60s} {v:8.2f}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
