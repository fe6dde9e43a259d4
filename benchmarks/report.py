"""The printed report: one table per part, built with `table.format_table`."""
from __future__ import annotations

from benchmarks.table import fmt_ratio, fmt_time, format_table


def render(result: dict) -> str:
    m, v = result["machine"], result["versions"]
    lines = [
        f"Machine: {m.get('devices') or m['cpu']} ({m['cores']} cores usable, platform {m['platform']}, "
        f"load average at start {', '.join(f'{x:.1f}' for x in m['load_average'] or [])})",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
    ]
    lines += [f"Note: {n}" for n in result.get("notes", [])]
    if "layers" in result:
        lines += ["", "Layers (median over repeats; 'jl speedup' = contender / jaxlayers time)", layers_table(result["layers"])]
    if "training" in result:
        peak = result["matmul_peak"]
        lines += ["", "Training (images/s over whole epochs, batch 256; 'jl speedup' = jaxlayers / contender images/s)",
                  training_table(result["training"]),
                  f"Roofline: measured matmul peak {peak['peak_flops'] / 1e9:.1f} GFLOP/s "
                  f"({peak['n']}x{peak['n']} {peak['dtype']} jnp.dot); FLOPs per training image: "
                  + "; ".join(f"{r['variant']} {r['flops_per_image']['analytic'] / 1e6:.2f} M analytic"
                              + (f" ({r['flops_per_image']['xla_cost_analysis'] / 1e6:.2f} M by XLA cost analysis)"
                                 if r["flops_per_image"].get("xla_cost_analysis") else "")
                              for r in result["training"])]
    if "quality" in result:
        lines += ["", "Quality (validation loss after training, real MNIST)", quality_table(result["quality"])]
    lines.append(f"\nTotal {result.get('seconds', 0):.0f} s")
    return "\n".join(lines)


def layers_table(records: list[dict]) -> str:
    rows = []
    for r in records:
        for name, st in r["results"].items():
            rows.append([
                r["title"], r["case"], "x".join(map(str, r["shape"][:4])), r["dtype"], r["mode"], name,
                fmt_time(st.get("median")), _range(st), fmt_time(st.get("compile_s") or st.get("warmup_s")),
                fmt_ratio(st.get("jaxlayers_speedup")), st.get("error") or st.get("note") or r.get("note", ""),
            ])
    return format_table(["op", "case", "input", "dtype", "mode", "contender", "median", "min-max",
                         "compile/1st", "jl speedup", "note"], rows)


def training_table(records: list[dict]) -> str:
    rows = []
    for r in records:
        for name, st in r["results"].items():
            ips, mm = st.get("images_per_second"), st.get("images_per_second_min_max")
            rows.append([
                r["variant"], name, f"{ips:,.0f}" if ips else "", f"{mm[0]:,.0f}-{mm[1]:,.0f}" if mm else "",
                fmt_time(st.get("warmup_s")), fmt_time(st.get("compile_s")), fmt_ratio(st.get("jaxlayers_speedup")),
                f"{100 * st['fraction_of_peak']:.1f}%" if st.get("fraction_of_peak") else "",
                st.get("error") or st.get("note", ""),
            ])
    return format_table(["model", "contender", "img/s", "min-max", "1st epoch", "compile", "jl speedup",
                         "of peak", "note"], rows)


def quality_table(q: dict) -> str:
    rows = []
    for r in q.get("variants", []):
        rows.append([r["variant"], f"{r['jaxlayers']:.4f}", ", ".join(f"{x:.4f}" for x in r["keras"]),
                     f"{r['threshold']:.4f}", "PASS" if r["passed"] else "FAIL"])
    table = format_table(["model", "jaxlayers val loss", "keras fit val losses (seeds)", "pass if <=", "result"], rows)
    return table + f"\n{q.get('description', '')}"


def _range(st: dict) -> str:
    if st.get("min") is None:
        return ""
    return f"{fmt_time(st['min'])}-{fmt_time(st['max'])}"
