"""Benchmark image quality: variety, k-NN precision/recall, FD and read-back of the synthetic images.

For each dataset (the demo and, when present, HAM10000 with one row per lesion and CIFAR-10 as its
public set), each ε and each method it runs one synthesis in a **fresh process** (its CPU time and
peak memory are that process's own, from ``os.wait4``) and evaluates the release with the data
owner's evaluation CNN. One table per dataset:

* ``variety`` — within-cell spread of the synthetic images in the evaluation CNN's features divided
  by the real images' (1 = as varied as real photos of the same record value; one average image per
  value scores 0). Features, not pixels: speckle on an average image is not variety.
* ``prec`` / ``recall`` — k-NN precision (realism) and recall (coverage of the real variety).
* ``FD`` — Fréchet distance in the same features (lower is better).
* ``rb <column>`` — normalised read-back of each column the real images express (0 = images unrelated
  to their rows, 1 = as well as real pairs).
* ``CPU min`` and ``peak GiB`` of the synthesis process (evaluation not included).

Methods: ``dp-tabimage`` (the product's default), ``no-warmup`` (no DP mean pairs), ``independent``
(the dp-tabimage release with its images shuffled across rows: read-back's floor), ``ceiling`` (the
dp-tabimage run's autoencoder — public encoder, DP fine-tuned decoder — reconstructing the real images,
with the real rows: what a perfect model of the latents would score) and ``before`` — the
default of an earlier commit (``--before-commit``, default the tree this benchmark replaced),
run from a git worktree with its own code, the "today" of issue 13's goals.

    .venv/bin/python benchmarks/bench_image_quality.py                        # demo + HAM, ε 1 and 10
    .venv/bin/python benchmarks/bench_image_quality.py --datasets demo --epsilons 10 --seeds 0,1,2
    .venv/bin/python benchmarks/bench_image_quality.py --datasets demo --rows 300 --epsilons 10 \\
        --methods dp-tabimage --preset-override pretrain_steps=20 --preset-override dpsgd_steps=5  # smoke

Every number is the data owner's view (it reads the real data) and is never part of a release.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
HAM = SHARED / "ham10000"
CIFAR_PUBLIC = SHARED / "cifar10-test" / "public"
BEFORE_COMMIT = "3e5ee65"
"""The tree before the latent family (CVAE quick preset at 16x16): issue 13's "today"."""

METHODS = ("dp-tabimage", "no-warmup", "independent", "ceiling", "before")


@dataclass
class Dataset:
    name: str
    csv: Path
    images: Path
    schema_file: Path
    public: Path | None


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def demo_dataset(out: Path, rows: int) -> Dataset:
    from dptab_core.data.demo import DemoConfig, demo_schema, write_demo

    folder = out / f"demo_rows{rows}"
    if not (folder / "table.csv").exists():
        write_demo(folder, DemoConfig(rows=rows, seed=0))
    schema_file = out / f"demo_rows{rows}_schema.json"
    demo_schema().save(schema_file)
    return Dataset("demo", folder / "table.csv", folder / "images", schema_file, folder / "public")


def ham_dataset(out: Path, rows: int, image_size: int = 32) -> Dataset | None:
    """One row per lesion (``rows`` lesions drawn with seed 0), the schema the Data page proposes."""
    import pandas as pd

    from dptab_core.data.ingest import inspect_dataset

    if not (HAM / "HAM10000_metadata.csv").is_file():
        _log(f"HAM10000 not found at {HAM}: skipped")
        return None
    folder = out / (f"ham_rows{rows}" + (f"_px{image_size}" if image_size != 32 else ""))
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "HAM10000_metadata.csv"
    if not csv.exists():
        frame = pd.read_csv(HAM / "HAM10000_metadata.csv").drop_duplicates("lesion_id")
        frame.sample(n=min(rows, len(frame)), random_state=0).to_csv(csv, index=False)
    report = inspect_dataset(
        csv, HAM / "images", person_column="lesion_id", workspace=folder / "workspace", image_size=image_size
    )
    schema_file = folder / "schema.json"
    report.schema.save(schema_file)
    return Dataset("ham10000", csv, HAM / "images", schema_file, CIFAR_PUBLIC if CIFAR_PUBLIC.is_dir() else None)


# ------------------------------------------------------------------ one run, in a fresh process


def run_case(case: dict) -> None:
    """Child process: one synthesis of ``case`` (written by the parent as JSON) through the pipeline."""
    from dptab_core.data.schema import Schema
    from dptab_core.pipeline import SynthSpec, run_pipeline

    plan_options = {**case["plan_options"], "epsilon": case["epsilon"]}
    if case["method"] == "no-warmup":
        plan_options["mean_pairs"] = {"enabled": False}
    spec = SynthSpec(
        csv_path=case["csv"],
        images_path=case["images"],
        schema=Schema.load(Path(case["schema"])).to_dict(),
        plan_options=plan_options,
        preset=case["preset"],
        public_dir=case["public"],
        seed=case["seed"],
        evaluate=False,
        preset_overrides=case["overrides"],
        table_settings=case["table_settings"],
        policy={"keep_one_row_per_person": True},
    )
    out = Path(case["out"])
    run_pipeline(spec, out_dir=out / "release", work_dir=out / "work")


def _timed(command: list[str], *, cwd: Path, env: dict | None = None, log: Path) -> tuple[float, float]:
    """Run ``command``; return (CPU minutes, peak GiB) of that process alone (os.wait4)."""
    with open(log, "w") as fh:
        proc = subprocess.Popen(command, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed; see {log}")
    return (usage.ru_utime + usage.ru_stime) / 60.0, usage.ru_maxrss / 2**20


def synthesize(data: Dataset, *, method: str, epsilon: float, seed: int, args, out: Path) -> tuple[Path, float, float]:
    """(release folder, CPU minutes, peak GiB) of one case."""
    out.mkdir(parents=True, exist_ok=True)
    if method == "before":
        return _synthesize_before(data, epsilon=epsilon, seed=seed, args=args, out=out)
    case = {
        "method": method,
        "epsilon": epsilon,
        "seed": seed,
        "csv": str(data.csv),
        "images": str(data.images),
        "schema": str(data.schema_file),
        "public": str(data.public) if data.public else None,
        "preset": args.preset,
        "overrides": args.overrides,
        "plan_options": args.plan_options,
        "table_settings": args.table_settings,
        "out": str(out),
    }
    (out / "case.json").write_text(json.dumps(case), encoding="utf-8")
    env = {**os.environ, "DPTAB_HOME": str(args.out / "workspace")}
    cpu, peak = _timed(
        [sys.executable, str(Path(__file__).resolve()), "--run-case", str(out / "case.json")],
        cwd=ROOT,
        env=env,
        log=out / "run.log",
    )
    return out / "release", cpu, peak


def _synthesize_before(data: Dataset, *, epsilon: float, seed: int, args, out: Path) -> tuple[Path, float, float]:
    """The earlier commit's default (its own inspect, schema and synth CLI) from a git worktree."""
    tree = args.out / f"before_{args.before_commit}"
    if not tree.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.before_commit],
            check=True,
            capture_output=True,
        )
    env = {**os.environ, "DPTAB_HOME": str(args.out / "workspace_before")}
    schema = out / "schema_before.json"
    inspect = [
        sys.executable,
        "-m",
        "dptab_core",
        "inspect",
        "--csv",
        str(data.csv),
        "--images",
        str(data.images),
        "--schema-out",
        str(schema),
    ]
    inspect += ["--person-column", "lesion_id"] if data.name == "ham10000" else ["--one-row-per-person"]
    subprocess.run(inspect, cwd=tree, env=env, check=True, capture_output=True)
    if data.name == "demo":  # the earlier demo flow used the demo's own declared schema
        code = (
            "from dptab_core.data.demo import demo_schema; import sys; from pathlib import Path; "
            "demo_schema().save(Path(sys.argv[1]))"
        )
        subprocess.run([sys.executable, "-c", code, str(schema)], cwd=tree, env=env, check=True)
    release = out / "release"
    command = [
        sys.executable,
        "-m",
        "dptab_core",
        "synth",
        "--csv",
        str(data.csv),
        "--images",
        str(data.images),
        "--schema",
        str(schema),
        "--epsilon",
        str(epsilon),
        "--preset",
        args.preset,
        "--seed",
        str(seed),
        "--no-evaluate",
        "--out",
        str(release),
    ]
    if data.public:
        command += ["--public", str(data.public)]
    cpu, peak = _timed(command, cwd=tree, env=env, log=out / "run.log")
    return release, cpu, peak


# ------------------------------------------------------------------ evaluation


class Judge:
    """The data owner's evaluation of releases against one real dataset (the CNN trained once)."""

    def __init__(self, data: Dataset, cache: Path) -> None:
        from dptab_core.data.ingest import load_paired_dataset
        from dptab_core.data.schema import Schema

        self.schema = Schema.load(data.schema_file)
        real = load_paired_dataset(data.csv, data.images, self.schema)
        self.table, self.images, self.cache = real.table, real.images, cache

    def ceiling(self, case_folder: Path) -> dict:
        """The run's autoencoder's own limit: its reconstructions of the *real* images, with the real rows,
        scored as a release would be — the public encoder and the decoder the release draws with (after
        its DP-SGD fine-tune). No latent model can do better than its decoder draws; when the release is
        close to this, a better autoencoder is what would help, not a better latent model."""
        import torch

        from dptab_core.image.latent import LatentGaussian
        from dptab_core.pipeline.planning import resolve_preset

        case = json.loads((case_folder / "case.json").read_text(encoding="utf-8"))
        state = torch.load(case_folder / "work" / "model_dpsgd.pt", map_location="cpu", weights_only=True)
        preset = resolve_preset(case["preset"], case["overrides"])
        model = LatentGaussian(preset, state["mean.weight"].shape[1], self.images.shape[1:])
        model.load_state_dict(state)
        latents = torch.from_numpy(model.prepare_inputs(self.images))
        with torch.no_grad():
            decoded = torch.cat([model.to_dataset_size(model.decode(z)) for z in latents.split(512)])
        images = ((decoded + 1.0) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
        return self._score(self.table, images.reshape(self.images.shape))

    def __call__(self, release: Path, *, shuffle: bool = False) -> dict:
        from dptab_core.eval.evaluate import load_synthetic_run

        table, images, _, _, _ = load_synthetic_run(release)
        if shuffle:  # the independent baseline: same images and rows, links cut
            images = images[np.random.default_rng(0).permutation(len(images))]
        return self._score(table, images)

    def _score(self, table, images: np.ndarray) -> dict:
        import pandas as pd

        from dptab_core.eval.evaluate import evaluate_arrays

        # A column the release dropped (no category survived DP selection at a small ε) is scored as blank.
        table = pd.DataFrame(
            {
                c.name: table[c.name] if c.name in table else pd.Series([None] * len(table), dtype=object)
                for c in self.schema.synthesized_columns()
            }
        )
        metrics = evaluate_arrays(self.table, self.images, table, images, self.schema, cache_dir=self.cache).metrics
        per = metrics["cross_modal"]["per_attribute"]
        return {
            "variety": metrics["image"].get("variety"),
            "precision": metrics["image"]["precision"],
            "recall": metrics["image"]["recall"],
            "fd": metrics["image"]["fd"],
            "readback": {n: per[n]["normalised"] for n in metrics["cross_modal"]["expressed_attributes"]},
            "resolution": int(images.shape[1]),
        }


# ------------------------------------------------------------------ report


def _fmt(value, width: int = 8, digits: int = 2) -> str:
    return f"{'—' if value is None else f'{value:.{digits}f}':>{width}}"


def print_table(name: str, rows: list[dict]) -> None:
    columns = sorted({c for r in rows for c in r["readback"]})
    print(f"\n## {name}")
    print(
        f"{'method':<12}{'ε':>5}{'seed':>5}{'px':>4}{'variety':>8}{'prec':>8}{'recall':>8}{'FD':>8}"
        + "".join(f"{'rb ' + c[:9]:>13}" for c in columns)
        + f"{'CPU min':>9}{'peak GiB':>9}"
    )
    for r in rows:
        print(
            f"{r['method']:<12}{r['epsilon']:>5g}{r['seed']:>5}{r['resolution']:>4}{_fmt(r['variety'])}"
            f"{_fmt(r['precision'])}{_fmt(r['recall'])}{_fmt(r['fd'], digits=1)}"
            + "".join(_fmt(r["readback"].get(c), 13) for c in columns)
            + _fmt(r.get("cpu_min"), 9, 1)
            + _fmt(r.get("peak_gib"), 9, 2)
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-case", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--datasets", default="demo,ham10000")
    parser.add_argument("--rows", type=int, default=2000, help="demo rows (default 2000)")
    parser.add_argument("--ham-rows", type=int, default=1500, help="HAM10000 lesions (default 1500)")
    parser.add_argument("--epsilons", default="10,1")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--preset-override", action="append", default=[], metavar="FIELD=NUMBER")
    parser.add_argument("--table-settings", default="default")
    parser.add_argument(
        "--plan-options",
        type=json.loads,
        default={},
        metavar="JSON",
        help='plan options over the defaults, e.g. \'{"shares": {"mean_pairs": 0.4}}\' (see pipeline.planning)',
    )
    parser.add_argument("--before-commit", default=BEFORE_COMMIT)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_image_quality"))
    args = parser.parse_args()
    if args.run_case:
        run_case(json.loads(args.run_case.read_text(encoding="utf-8")))
        return 0
    args.out = args.out.resolve()
    args.overrides = {
        k: (int(v) if float(v).is_integer() and "." not in v else float(v))
        for k, _, v in (o.partition("=") for o in args.preset_override)
    }
    epsilons = [float(e) for e in args.epsilons.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    load = os.getloadavg()
    print(
        f"# bench_image_quality: preset {args.preset}, overrides {args.overrides or 'none'}, plan options "
        f"{args.plan_options or 'default'}, table "
        f"{args.table_settings}; load average at start {load[0]:.1f} on {os.cpu_count()} CPUs"
    )
    for name in args.datasets.split(","):
        data = demo_dataset(args.out, args.rows) if name == "demo" else ham_dataset(args.out, args.ham_rows)
        if data is None:
            continue
        judge, rows = Judge(data, args.out / "eval_cache" / name), []
        for eps in epsilons:
            for seed in seeds:
                runs: dict[str, Path] = {}
                for method in methods:
                    if method in ("independent", "ceiling") or (method == "before" and seed != seeds[0]):
                        continue
                    folder = args.out / name / f"{method}_eps{eps:g}_seed{seed}"
                    _log(f"{name}: {method} at ε = {eps:g}, seed {seed}")
                    release, cpu, peak = synthesize(data, method=method, epsilon=eps, seed=seed, args=args, out=folder)
                    runs[method] = release
                    rows.append(
                        {
                            "method": method,
                            "epsilon": eps,
                            "seed": seed,
                            "cpu_min": cpu,
                            "peak_gib": peak,
                            **judge(release),
                        }
                    )
                    print_table(name, rows[-1:])
                if "independent" in methods and "dp-tabimage" in runs:
                    rows.append(
                        {
                            "method": "independent",
                            "epsilon": eps,
                            "seed": seed,
                            **judge(runs["dp-tabimage"], shuffle=True),
                        }
                    )
                if "ceiling" in methods and "dp-tabimage" in runs and data.public is not None:
                    rows.append(
                        {"method": "ceiling", "epsilon": eps, "seed": seed, **judge.ceiling(runs["dp-tabimage"].parent)}
                    )
        print_table(name, rows)
        (args.out / f"{name}.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    load = os.getloadavg()
    print(f"\nload average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
