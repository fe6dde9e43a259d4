"""Where a training step's time goes, op by op: jaxlayers (`jax.profiler`) and PyTorch (`torch.profiler`).

For each autoencoder, `steps` training steps at batch 256 are traced after a warm-up:
the experiments' own step (`experiments.step.make_train_step`, Keras Adam and loss)
and the PyTorch contender's step (eager, channels_last). Device time is summed by op
name (XLA: the HLO op or thunk without its numeric suffix; torch: the operator's self
time on the device, or on the CPU for a CPU run), largest first, with its share.
jaxlayers' step runs on one device here (on CPU its thunks' times are summed over
XLA's threads); on CPU the torch side runs in a subprocess with OpenMP's defaults.
"""
from __future__ import annotations

import glob
import json
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from benchmarks import ROOT
from benchmarks import contenders as optional
from benchmarks.timing import SKIPPED, Deadline, worker_env

BATCH = 256
TOP = 15
# Host-side bookkeeping events of XLA:CPU's thread pools, not ops.
_NOT_OPS = re.compile(r"^(ThreadpoolListener|ThunkExecutor|end: )")


def summarize(totals: dict[str, float], steps: int, top: int = TOP) -> dict:
    """The `top` ops by total time: name, ms per step, share of the summed op time."""
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    return {"op_ms_per_step": sum(totals.values()) / steps * 1e3,
            "ops": [{"op": name, "ms_per_step": t / steps * 1e3, "share": t / whole} for name, t in ranked]}


def xla_op_seconds(xplane_path: str) -> dict[str, float]:
    """Seconds per op name in a `jax.profiler` trace: device ops on an accelerator, XLA:CPU thunks on the host."""
    from jax.profiler import ProfileData

    data = ProfileData.from_file(xplane_path)
    totals: dict[str, float] = defaultdict(float)
    device_planes = [p for p in data.planes if p.name.startswith("/device:")]
    for plane in device_planes or [p for p in data.planes if p.name == "/host:CPU"]:
        lines = list(plane.lines)
        if device_planes:  # HLO ops if the trace has them, else the kernels on the streams
            lines = ([line for line in lines if line.name == "XLA Ops"]
                     or [line for line in lines if line.name.startswith("Stream")])
        else:
            lines = [line for line in lines if line.name.startswith("tf_XLA")]
        for line in lines:
            for event in line.events:
                if not _NOT_OPS.match(event.name):
                    totals[re.sub(r"\.\d+$", "", event.name)] += event.duration_ns * 1e-9
    return dict(totals)


def jax_profile(variant: str, steps: int) -> dict:
    import jax
    import jax.numpy as jnp

    from experiments.config import CPU_FUSIONS
    from experiments.keras_compat import make_optimizer
    from experiments.models import build_model
    from experiments.step import init_key, init_state, make_train_step

    model = build_model(variant)
    optimizer = make_optimizer("adam")
    state = jax.jit(lambda key: init_state(model, optimizer, key))(init_key(0))
    # As experiments.train compiles it: on CPU with its XLA option (dots-only YNNPACK fusions).
    options = CPU_FUSIONS["dots"] if jax.default_backend() == "cpu" else {}
    step = jax.jit(make_train_step(model, optimizer, jit=False), donate_argnums=0, compiler_options=options)
    x = jnp.asarray(np.random.default_rng(0).random((BATCH, 28, 28, 1), dtype=np.float32))
    for _ in range(3):
        state, metrics = step(state, x)
    jax.block_until_ready(metrics)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as logdir:
        with jax.profiler.trace(logdir):
            for _ in range(steps):
                state, metrics = step(state, x)
            jax.block_until_ready(metrics)
        path = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0]
        return summarize(xla_op_seconds(path), steps)


def torch_profile(variant: str, steps: int) -> dict:
    torch = optional.torch()
    from benchmarks.training import EPS, LR, torch_model

    cuda = torch.cuda.is_available() and _platform() == "gpu"
    device = torch.device("cuda" if cuda else "cpu")
    model = torch_model(torch, variant).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=LR, eps=EPS, **({"fused": True} if cuda else {}))
    x = torch.from_numpy(np.random.default_rng(0).random((BATCH, 1, 28, 28), dtype=np.float32)).to(device)
    x = x.contiguous(memory_format=torch.channels_last)

    def step():
        p = model(x).clamp(EPS, 1 - EPS)
        loss = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        if cuda:
            torch.cuda.synchronize()
    totals = {}
    for event in prof.key_averages():
        # CUDA: the kernels alone (an aten op's device time is its kernels'); CPU: self times.
        if cuda and event.device_type != torch.autograd.DeviceType.CUDA:
            continue
        seconds = (event.self_device_time_total if cuda else event.self_cpu_time_total) * 1e-6
        if seconds > 0:
            totals[event.key] = seconds
    return {**summarize(totals, steps), "note": "eager, channels_last, " + ("CUDA" if cuda else "CPU")}


def _platform() -> str:
    import jax

    return jax.default_backend()


def torch_profile_subprocess(variant: str, steps: int) -> dict:
    """`torch_profile` in a process of its own with OpenMP's default settings (`timing.worker_env`)."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.opprofile", "--torch", variant, str(steps)],
                          capture_output=True, text=True, env=worker_env(), timeout=600,
                          cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(steps: int = 20, variants: tuple[str, ...] = ("upsample", "transpose"), log: Callable[[str], None] = print,
        deadline: Deadline | None = None) -> list[dict]:
    records = {variant: {"variant": variant, "steps": steps, "batch": BATCH} for variant in variants}
    # Every JAX trace before any torch one: torch's profiler keeps CUPTI, which JAX's then cannot use.
    torch = torch_profile if _platform() == "gpu" else torch_profile_subprocess
    profilers = [("jaxlayers", jax_profile)] + ([("torch", torch)] if optional.torch() is not None else [])
    for name, profile in profilers:
        for variant, record in records.items():
            if deadline is not None and deadline.passed():
                record[name] = {"error": SKIPPED}
                continue
            try:
                record[name] = profile(variant, steps)
            except Exception as err:  # a profiler that cannot run on this machine is a note
                record[name] = {"error": f"{type(err).__name__}: {err}"[:300]}
            top = record[name].get("ops", [])[:3]
            log(f"  {variant} {name}: " + ", ".join(f"{o['op'][:60]} {o['ms_per_step']:.3f} ms" for o in top))
    return list(records.values())


if __name__ == "__main__":  # the torch side in a subprocess: --torch VARIANT STEPS, prints JSON
    if len(sys.argv) != 4 or sys.argv[1] != "--torch":
        print("internal: use `python -m benchmarks.run --only profile`", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(torch_profile(sys.argv[2], int(sys.argv[3]))))
