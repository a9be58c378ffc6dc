"""A 3-node swarm on one GPU against single-process Hugging Face eager, in one run (issue 7).

Writes a random-weight Llama of a real shape (``--shape llama2-7b``: no download is possible on
the CUDA test machine), then, each phase in its own process so the GPU and the DHT's fork stay
clean: the HF eager baseline (``bench/gpu/hf_eager.py``); then per ``--variant`` a bootstrap
peer and 3 ``chainswarm node`` processes on 127.0.0.1 hosting thirds of the blocks (11/11/10 of
32), measured by chainswarm's client (``bench/gpu/swarm_decode.py``). Prints a table and writes
``gpu_swarm.json`` (plus one ``nodes-LABEL.log`` per variant) to ``--out`` and to ``$OUT`` when
set; every process it started is stopped, whatever happens. ``--budget-s`` bounds the whole run.

    python bench/gpu_swarm.py --shape llama2-7b --out DIR                     # on the GPU machine
    python bench/gpu_swarm.py --shape tiny --device cpu --out DIR             # CPU smoke test
    ... --variant graphs: --variant eager:--no-cuda-graphs --node-arg=--no-batching
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "gpu"))

from random_llama import SHAPES  # noqa: E402

from chainswarm.cli.processes import LOOPBACK, Proc, spawn, start_bootstrap, stop_all  # noqa: E402
from chainswarm.models.spec import block_bytes, cache_bytes, load_model_info  # noqa: E402

GPU_DIR = Path(__file__).resolve().parent / "gpu"
NODES = 3
SLOT_HEADROOM = 4  # cache slots per block beyond the largest batch (a warm-up session, a late close)
STOP_RESERVE_S = 30.0  # budget kept for stopping processes and writing results
LOG_TAIL_LINES = 400
PROC_STOP_S = 15.0  # grace per process: a node drains (no sessions left by then) and leaves in about a second


@dataclass
class Variant:
    """One swarm configuration: a label (a file name part) and extra ``chainswarm node`` flags."""

    label: str
    node_args: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Variant:
        label, _, flags = text.partition(":")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", label):
            raise argparse.ArgumentTypeError(f"variant label {label!r}: use letters, digits, '.', '_', '-'")
        return cls(label, flags.split())


@dataclass
class Run:
    """The run's arguments, deadline, scratch folder, live processes and results (saved after
    every phase)."""

    args: argparse.Namespace
    deadline: float
    workdir: Path
    outs: list[Path]
    results: dict
    procs: list[Proc] = field(default_factory=list)

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic() - STOP_RESERVE_S

    def save(self) -> None:
        for out in self.outs:
            (out / "gpu_swarm.json").write_text(json.dumps(self.results, indent=1))


def thirds(num_blocks: int) -> list[tuple[int, int]]:
    """Contiguous spans, larger first: 32 blocks → 0:11, 11:22, 22:32."""
    sizes = [num_blocks // NODES + (1 if i < num_blocks % NODES else 0) for i in range(NODES)]
    cuts = [sum(sizes[:i]) for i in range(NODES + 1)]
    return list(zip(cuts, cuts[1:], strict=False))


def node_memory_bytes(model: Path, dtype: str, max_length: int, blocks: int, sessions: int) -> int:
    """--memory for ``blocks`` blocks plus cache slots for ``sessions`` sessions through each
    (s_m and s_c as the node computes them)."""
    info = load_model_info(model)
    return blocks * (block_bytes(info, dtype) + (sessions + SLOT_HEADROOM) * cache_bytes(info, dtype, max_length))


def phase(run: Run, name: str, script: str, *flags: str, figures: bool = True) -> dict | None:
    """Run ``bench/gpu/SCRIPT FLAGS [--json F]`` within the budget: its figures ({} when
    ``figures`` is False), or None after recording why it failed."""
    budget_s = run.remaining_s()
    if budget_s < 10:
        run.results["errors"][name] = "skipped: out of time"
        return None
    json_path = run.workdir / f"{name}.json"
    cmd = [sys.executable, str(GPU_DIR / script), *flags, *(["--json", str(json_path)] if figures else [])]
    print(f"== {name} (at most {budget_s:.0f} s): {' '.join(cmd[1:])}", flush=True)
    began = time.monotonic()
    try:
        done = subprocess.run(cmd, timeout=budget_s)
    except subprocess.TimeoutExpired:
        run.results["errors"][name] = f"timed out after {budget_s:.0f} s"
        return None
    finally:
        run.results["phase_s"][name] = round(time.monotonic() - began, 1)
    if done.returncode != 0 or (figures and not json_path.exists()):
        run.results["errors"][name] = f"exit status {done.returncode}"
        return None
    return json.loads(json_path.read_text()) if figures else {}


def start_swarm(run: Run, model: Path, variant: Variant, workdir: Path) -> list[str]:
    """A bootstrap peer and 3 nodes on loopback, each hosting a third of the blocks, added to
    ``run.procs`` as they start (so a failure still stops them); the bootstrap's address."""
    args = run.args
    bootstrap, maddrs = start_bootstrap(workdir)
    run.procs.append(bootstrap)
    flags = ["--device", args.device, "--dtype", args.dtype, "--max-length", str(args.max_length),
             "--update-period", "2", *(["--torch-threads", "1"] if args.device == "cpu" else []),
             *args.node_arg, *variant.node_args]
    spans = thirds(load_model_info(model).num_blocks)
    memories = [node_memory_bytes(model, args.dtype, args.max_length, b - a, max(args.batches)) for a, b in spans]
    run.results["variants"][variant.label] = {"node_flags": flags, "spans": spans, "memory_bytes": memories}
    for i, ((a, b), memory) in enumerate(zip(spans, memories, strict=True)):
        run.procs.append(spawn(["node", "--model", str(model), "--initial-peers", *maddrs, "--listen", LOOPBACK,
                                "--blocks", f"{a}:{b}", "--memory", str(memory), "--public-name", f"gpu{i}",
                                "--cache-dir", str(workdir / "speed"), *flags],
                               workdir / f"node{i}.log"))
    return maddrs


def run_variant(run: Run, model: Path, variant: Variant) -> None:
    args = run.args
    workdir = run.workdir / variant.label
    workdir.mkdir()
    try:
        maddrs = start_swarm(run, model, variant, workdir)
        figures = phase(run, f"swarm-{variant.label}", "swarm_decode.py", "--model", str(model),
                        "--initial-peers", *maddrs, "--device", args.device, "--dtype", args.dtype,
                        "--nodes", str(NODES), "--wait-s", str(args.wait_s),
                        "--batches", ",".join(map(str, args.batches)),
                        "--prompt-tokens", str(args.prompt_tokens), "--tokens", str(args.tokens))
        if figures is not None:
            run.results["variants"][variant.label].update(figures)
    except Exception as e:  # a bootstrap or node that cannot start: record it, go on to the next variant
        run.results["errors"][f"swarm-{variant.label}"] = repr(e)
    finally:
        procs, run.procs = run.procs, []
        stop_all(procs, PROC_STOP_S)
        for out in run.outs:
            with open(out / f"nodes-{variant.label}.log", "w") as log:
                for proc in procs:
                    log.write(f"===== {proc.log.name} (exit {proc.popen.returncode})\n"
                              f"{proc.tail(LOG_TAIL_LINES)}\n")


def summary(results: dict) -> dict:
    """Batch-1 ms/token and decode tokens/s per batch for each run, and the issue's two targets."""
    rows = {}
    hf = results.get("hf_eager")
    if hf:
        rows["hf eager"] = {"ms_per_token": hf["batches"].get("1", {}).get("ms_per_step_p50"),
                            "generate_ms_per_token": hf.get("generate_ms_per_token"),
                            **{f"tok_s_b{b}": f.get("tokens_per_s") for b, f in hf["batches"].items()}}
    for label, v in results["variants"].items():
        if "stream_ms_per_token" in v:
            rows[f"swarm {label}"] = {
                "ms_per_token": v["stream_ms_per_token"]["p50"], "generate_ms_per_token": v["generate_ms_per_token"],
                "chain_step_ms": v["chain_step_ms"]["p50"], "rpc_rtt_ms": v["rpc_rtt_ms"]["p50"],
                **{f"tok_s_b{b}": f.get("tokens_per_s") for b, f in v["batches"].items()}}
    out: dict = {"rows": rows}
    swarm = {k: r["ms_per_token"] for k, r in rows.items() if k.startswith("swarm")}
    if swarm:
        best = min(swarm, key=swarm.get)
        out["best_swarm"] = best
        out["moonshot_10ms"] = swarm[best] <= 10.0
        if rows.get("hf eager", {}).get("ms_per_token"):
            out["swarm_faster_than_hf_eager"] = swarm[best] < rows["hf eager"]["ms_per_token"]
            out["speedup_vs_hf_eager"] = rows["hf eager"]["ms_per_token"] / swarm[best]
        if hf and "greedy_tokens" in hf:
            theirs = results["variants"][best.removeprefix("swarm ")]["greedy_tokens"]
            same = next((i for i, (a, b) in enumerate(zip(hf["greedy_tokens"], theirs, strict=False)) if a != b),
                        min(len(theirs), len(hf["greedy_tokens"])))
            out["greedy_tokens_same_as_hf"] = f"{same} of {len(theirs)}"
    return out


def table(results: dict) -> str:
    rows = results["summary"]["rows"]
    columns = ["ms_per_token", "generate_ms_per_token", "chain_step_ms", "rpc_rtt_ms",
               *sorted({c for r in rows.values() for c in r if c.startswith("tok_s_b")}, key=lambda c: int(c[7:]))]
    lines = ["| run | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in rows.items():
        cells = [f"{row[c]:.2f}" if isinstance(row.get(c), float) else "-" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    verdict = {k: v for k, v in results["summary"].items() if k != "rows"}
    return "\n".join(lines) + f"\n{json.dumps(verdict)}"


def scratch_dir(args: argparse.Namespace) -> Path:
    """/dev/shm when it holds the model twice over (no disk write of a 13 GB model), else the temp dir."""
    shape = SHAPES[args.shape]
    h, inter, vocab = shape["hidden_size"], shape["intermediate_size"], shape["vocab_size"]
    kv = h // shape["num_attention_heads"] * shape["num_key_value_heads"]
    layers = args.layers or shape["num_hidden_layers"]
    model_bytes = 2 * (layers * (2 * h * h + 2 * h * kv + 3 * h * inter) + 2 * vocab * h)
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and shutil.disk_usage(shm).free > 2 * model_bytes else None
    return Path(tempfile.mkdtemp(prefix="chainswarm-gpu-", dir=args.workdir or base))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="llama2-7b")
    parser.add_argument("--layers", type=int, help="override the shape's number of blocks")
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu_swarm.json and node logs")
    parser.add_argument("--device", default="cuda", help="cuda or cpu: nodes, baseline and client front")
    parser.add_argument("--dtype", help="compute dtype (default float16 on cuda, float32 on cpu)")
    parser.add_argument("--batches", type=lambda s: [int(b) for b in s.split(",")], default=[1, 8, 32])
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=64, help="decode steps timed per stream")
    parser.add_argument("--max-length", type=int, default=512, help="the swarm's --max-length")
    parser.add_argument("--node-arg", action="append", default=[], metavar="FLAG",
                        help="extra flag for every node, e.g. --node-arg=--no-batching (repeatable)")
    parser.add_argument("--variant", type=Variant.parse, action="append", metavar="LABEL:FLAGS",
                        help="a swarm to measure, with its own node flags (space-separated); repeatable, "
                        "each on a fresh swarm; default one variant 'swarm' with no extra flags")
    parser.add_argument("--skip-hf", action="store_true", help="no Hugging Face baseline")
    parser.add_argument("--budget-s", type=float, default=480.0, help="the whole run, phases skipped past it")
    parser.add_argument("--wait-s", type=float, default=240.0, help="how long nodes may take to come online")
    parser.add_argument("--workdir", type=Path, help="scratch folder base (default /dev/shm if roomy)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (model and logs)")
    args = parser.parse_args()
    args.dtype = args.dtype or ("float32" if args.device == "cpu" else "float16")
    args.variant = args.variant or [Variant("swarm")]
    if args.device == "cpu":
        os.environ.setdefault("OMP_NUM_THREADS", "1")  # every phase inherits it: no oversubscribed cores
    return args


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout still runs the cleanup below
    outs = [args.out.resolve()]
    if os.environ.get("OUT") and Path(os.environ["OUT"]).resolve() not in outs:
        outs.append(Path(os.environ["OUT"]).resolve())
    for out in outs:
        out.mkdir(parents=True, exist_ok=True)
    results = {"shape": args.shape, "layers": args.layers, "device": args.device, "dtype": args.dtype,
               "batches": args.batches, "prompt_tokens": args.prompt_tokens, "tokens": args.tokens,
               "max_length": args.max_length, "phase_s": {}, "errors": {}, "variants": {}}
    run = Run(args, time.monotonic() + args.budget_s, scratch_dir(args), outs, results)
    print(f"scratch folder {run.workdir}; results in {', '.join(map(str, outs))}", flush=True)
    try:
        measure_all(run)
    except BaseException as e:  # SIGTERM (SystemExit 143), Ctrl-C or a bug: the results say so
        results["errors"]["run"] = f"stopped: {e!r}"
        raise
    finally:
        stop_all(run.procs, PROC_STOP_S)
        results["summary"] = summary(results)
        run.save()
        if not args.keep:
            shutil.rmtree(run.workdir, ignore_errors=True)
    print(table(results), flush=True)
    if results["errors"]:
        print(f"errors: {results['errors']}", file=sys.stderr)
        sys.exit(1)


def measure_all(run: Run) -> None:
    """Write the model, run the baseline, then each variant's swarm; results saved as they come."""
    args, results = run.args, run.results
    model = run.workdir / "model"
    layers = ["--layers", str(args.layers)] if args.layers else []
    if phase(run, "write", "random_llama.py", "--shape", args.shape, "--out", str(model),
             "--device", args.device, *layers, figures=False) is None:
        return
    results["model_bytes"] = sum(f.stat().st_size for f in model.glob("*.safetensors"))
    if not args.skip_hf:
        results["hf_eager"] = phase(run, "hf_eager", "hf_eager.py", "--model", str(model),
                                    "--device", args.device, "--dtype", args.dtype,
                                    "--batches", ",".join(map(str, args.batches)),
                                    "--prompt-tokens", str(args.prompt_tokens), "--tokens", str(args.tokens))
        run.save()
    for variant in args.variant:
        run_variant(run, model, variant)
        run.save()

if __name__ == "__main__":
    main()
