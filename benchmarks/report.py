"""The printed report: one table per part, built with `table.format_table`."""
from __future__ import annotations

from benchmarks.table import fmt_ratio, fmt_time, format_table


def render(result: dict, markdown: bool = False) -> str:
    """Every part's table, as aligned text or (markdown=True) Markdown."""
    global _MARKDOWN
    _MARKDOWN = markdown
    m, v = result["machine"], result["versions"]
    lines = [
        f"Machine: {m.get('devices') or m['cpu']} ({m['cores']} cores usable, platform {m['platform']}, "
        f"load average at start {', '.join(f'{x:.1f}' for x in m['load_average'] or [])})",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
    ]
    lines += [f"Note: {n}" for n in result.get("notes", [])]
    for part, title in (("layers", "Layers"), ("depthwise", "MobileNetV2's depthwise, 1x1 and first convs")):
        if part in result:
            lines += ["", f"{title} (median over repeats; 'jl speedup' = contender / jaxlayers time)",
                      layers_table(result[part])]
    if "sequence" in result:
        lines += ["", "Sequence layers, forward+backward (median over repeats; 'jl speedup' = contender / jaxlayers "
                  "time; input: batch, time, features, units (attention: batch, tokens, heads, key_dim))",
                  layers_table(result["sequence"])]
    if "training" in result:
        peak = result["matmul_peak"]
        lines += ["", "Training (images/s over whole epochs, batch 256; 'jl speedup' = jaxlayers / contender images/s)",
                  training_table(result["training"]),
                  f"Roofline: measured matmul peak {peak['peak_flops'] / 1e9:.1f} GFLOP/s "
                  f"({peak['n']}x{peak['n']} {peak['dtype']} jnp.dot); FLOPs per training image: "
                  + "; ".join(f"{r['variant']} {r['flops_per_image']['analytic'] / 1e6:.2f} M analytic"
                              + (f" ({r['flops_per_image']['xla_cost_analysis'] / 1e6:.2f} M by XLA cost analysis)"
                                 if r["flops_per_image"].get("xla_cost_analysis") else "")
                              for r in result["training"] if "flops_per_image" in r)]
    if "applications" in result:
        records = result["applications"]
        lines += ["", "MobileNetV2 training (images/s over whole epochs, batch 32, BatchNorm training mode; "
                  "'jl speedup' = jaxlayers / contender images/s)", training_table(records)]
        lines += [f"FLOPs per training image: {r['variant']} {r['flops_per_image']['xla_cost_analysis'] / 1e6:.1f} M "
                  "by XLA cost analysis (of peak: against the measured matmul peak)"
                  for r in records if (r.get("flops_per_image") or {}).get("xla_cost_analysis")]
    if "fulljob" in result:
        lines += ["", "The tutorial's full job (real MNIST; training = the epochs' own time, compile and evaluation apart)",
                  fulljob_table(result["fulljob"])]
    if "profile" in result:
        lines += ["", "A training step op by op (device time per step, largest first)", profile_table(result["profile"])]
    if "quality" in result:
        lines += ["", "Quality (validation loss after training, real MNIST)", quality_table(result["quality"])]
    if "rnn" in result:
        from benchmarks import rnn

        lines += ["", "The RNN guide's LSTM classifier (rows as time steps; train img/s after the first epoch, "
                  "'jaxlayers speedup' = contender / jaxlayers time; Keras: its fastest steps_per_execution)",
                  rnn.table(result["rnn"], markdown=_MARKDOWN)]
    lines.append(f"\nTotal {result.get('seconds', 0):.0f} s")
    return "\n".join(lines)


_MARKDOWN = False


def _table(headers: list[str], rows: list[list]) -> str:
    return format_table(headers, rows, markdown=_MARKDOWN)


def fulljob_table(records: list[dict]) -> str:
    rows = []
    for r in records:
        if "train_seconds" not in r:
            rows.append([r["variant"], "", "", "", "", "", "", "", "", r.get("note", "")])
            continue
        rows.append([r["variant"], r["epochs"], r["loop"], f"{r['train_seconds']:.1f} s",
                     f"{r['images_per_second']:,.0f}", f"{r['eval_seconds']:.1f} s", f"{r['compile_seconds']:.1f} s",
                     f"{r['wall_seconds']:.1f} s", f"{r['val_loss_epoch_5']:.4f}" if r["val_loss_epoch_5"] else "",
                     f"{r['val_loss_final']:.4f} ({r['data']})"])
    return _table(["model", "epochs", "loop", "training", "img/s", "evaluation", "compile", "wall",
                   "val loss @5", "val loss at end"], rows)


def profile_table(records: list[dict]) -> str:
    rows = []
    for r in records:
        for who in ("jaxlayers", "torch"):
            p = r.get(who)
            if p is None:
                continue
            if "ops" not in p:
                rows.append([r["variant"], who, "", "", "", p.get("error", "")])
                continue
            for o in p["ops"][:8]:
                rows.append([r["variant"], who, o["op"][:60], f"{o['ms_per_step']:.3f} ms", f"{100 * o['share']:.0f}%",
                             f"all ops {p['op_ms_per_step']:.2f} ms/step"])
        if "note" in r:
            rows.append([r["variant"], "", "", "", "", r["note"]])
    return _table(["model", "library", "op", "per step", "share", "note"], rows)


def layers_table(records: list[dict]) -> str:
    rows = []
    for r in records:
        if not r["results"]:
            rows.append([r["title"], r["case"], "x".join(map(str, r["shape"][:4])), r["dtype"], r["mode"],
                         "", "", "", "", "", r.get("note", "")])
        for name, st in r["results"].items():
            rows.append([
                r["title"], r["case"], "x".join(map(str, r["shape"][:4])), r["dtype"], r["mode"], name,
                fmt_time(st.get("median")), _range(st), fmt_time(st.get("compile_s") or st.get("warmup_s")),
                fmt_ratio(st.get("jaxlayers_speedup")), st.get("error") or st.get("note") or r.get("note", ""),
            ])
    return _table(["op", "case", "input", "dtype", "mode", "contender", "median", "min-max",
                   "compile/1st", "jl speedup", "note"], rows)


def training_table(records: list[dict]) -> str:
    rows = []
    for r in records:
        if not r["results"]:
            rows.append([r["variant"], "", "", "", "", "", "", "", r.get("note", "")])
        for name, st in r["results"].items():
            ips, mm = st.get("images_per_second"), st.get("images_per_second_min_max")
            rows.append([
                r["variant"], name, f"{ips:,.0f}" if ips else "", f"{mm[0]:,.0f}-{mm[1]:,.0f}" if mm else "",
                fmt_time(st.get("warmup_s")), fmt_time(st.get("compile_s")), fmt_ratio(st.get("jaxlayers_speedup")),
                f"{100 * st['fraction_of_peak']:.1f}%" if st.get("fraction_of_peak") else "",
                st.get("error") or st.get("note", ""),
            ])
    return _table(["model", "contender", "img/s", "min-max", "1st epoch", "compile", "jl speedup",
                   "of peak", "note"], rows)


def quality_table(q: dict) -> str:
    rows = []
    for r in q.get("variants", []):
        rows.append([r["variant"], f"{r['jaxlayers']:.4f}", f"{r['bfloat16']:.4f} ({r['bfloat16_gap']:+.1%})",
                     ", ".join(f"{x:.4f}" for x in r["keras"]), f"{r['threshold']:.4f}",
                     "PASS" if r["passed"] else "FAIL"])
    table = _table(["model", "jaxlayers val loss", "bfloat16 (vs float32)", "keras fit val losses (seeds)",
                    "pass if <=", "result"], rows)
    return table + f"\n{q.get('description', '')}"


def _range(st: dict) -> str:
    if st.get("min") is None:
        return ""
    return f"{fmt_time(st['min'])}-{fmt_time(st['max'])}"
