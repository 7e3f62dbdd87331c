"""Smoke tests of the scripts in benchmarks/ on tiny settings (their figures are measured elsewhere, never asserted)."""

from __future__ import annotations

import ast
import importlib
import json
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
MODULES = ("common", "sides", "equivalence", "memory", "overhead", "throughput", "loss", "step_profile")
TINY = ["--configs", "tiny", "--repeats", "1", "--steps", "2", "--warmup", "1", "--no-memory", "--threads", "1"]


@pytest.fixture(scope="module")
def bench():
    """The benchmark modules, imported as the scripts import each other (their folder first on sys.path)."""
    saved = {name: sys.modules.pop(name) for name in MODULES if name in sys.modules}
    sys.path.insert(0, str(BENCH))
    try:
        yield {name: importlib.import_module(name) for name in MODULES}
    finally:
        sys.path.remove(str(BENCH))
        for name in MODULES:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


@pytest.fixture
def threads():
    """main() sets torch's thread count for the whole process: put it back."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def rows(out: str, config: str = "tiny") -> dict[str, list[str]]:
    """The table rows of ``config``, keyed by the side column."""
    found = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) > 2 and cells[0] == config:
            found[cells[1]] = cells
    return found


def test_benchmarks_use_no_private_minifc_name() -> None:
    for path in sorted(BENCH.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Attribute):  # stricter than needed: no private attribute of anything
                names = [node.attr]
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                names = [part for m in [*modules, *(a.name for a in node.names)] for part in m.split(".")]
            for name in names:
                if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
                    pytest.fail(f"{path.name}:{node.lineno} uses the private name {name!r}")


def test_throughput_table_has_every_side_and_checks_equivalence(bench, threads, capsys, tmp_path) -> None:
    out_json = tmp_path / "out.json"
    argv = [*TINY, "--references", "torch", "torch-fused", "--json", str(out_json)]
    assert bench["throughput"].main(argv) == 0
    out = capsys.readouterr().out
    table = rows(out)
    machine = bench["common"].cpu_name()  # the processor's name and the core count head the output
    assert machine.endswith(" cores") and out.startswith(machine)
    assert json.loads(out_json.read_text())["machine"] == machine
    for side in ("minifc Trainer", "minifc classic loop"):
        assert table[side][-1].startswith("ok (max |dw|"), table[side]
    assert table["torch"][-1] == "reference"
    fused = table["torch fused=True"]
    assert fused[-1].startswith("ok (max |dw|") or fused[2] == "skipped"
    assert "matmul only" in table
    # speed-ups of both minifc sides against the references and the fastest of them (median (min-max))
    result = json.loads(out_json.read_text())["results"][0]
    best = result["fastest_reference"]
    assert best in ("torch", "torch-fused")
    fastest = f"fastest reference ({bench['sides'].LABELS[best]})"
    for side in ("torch", fastest, "fastest reference per turn (lower bound)"):
        assert all("(" in cell and "-" in cell for cell in table[side][5:7]), table[side]
    assert set(result["speedups"]) == {"trainer", "classic"}
    for m in ("trainer", "classic"):
        speedups = result["speedups"][m]
        assert speedups["fastest"] == speedups[best]
        # the per-turn fastest is never slower than the fastest side, so minifc's ratio against it is no higher
        assert speedups["fastest_per_turn"]["median"] <= speedups["fastest"]["median"] + 1e-12


def test_a_reference_that_cannot_run_is_skipped_with_its_reason(bench, threads, capsys, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise RuntimeError("no C compiler found\nmore detail")

    monkeypatch.setattr(torch, "compile", lambda fn: refuse)  # fails at the first call, as inductor does
    assert bench["throughput"].main([*TINY, "--no-check", "--references", "torch", "torch-compile"]) == 0
    table = rows(capsys.readouterr().out)
    skipped = table["torch.compile"]
    assert skipped[2] == "skipped" and skipped[-1] == "RuntimeError: no C compiler found"
    assert "torch" in table and "fastest reference (torch)" in table
    assert "fastest reference per turn (lower bound)" in table


def test_equivalence_check_can_fail(bench, monkeypatch) -> None:
    sides, common = bench["sides"], bench["common"]
    real = sides.torch_optimizer

    def wrong_lr(cfg, params, fused=None):
        return real(common.Config(cfg.dims, cfg.batch_size, cfg.update_rule, {"learning_rate": 2e-2}), params, fused)

    cfg = common.Config([20, 7, 3], 8, "sgd", {"learning_rate": 1e-2})
    verdicts = bench["equivalence"].check_equivalence(cfg, torch.device("cpu"), ("trainer", "classic"))
    assert all(v.startswith("ok") for v in verdicts.values()), verdicts
    monkeypatch.setattr(sides, "torch_optimizer", wrong_lr)
    verdicts = bench["equivalence"].check_equivalence(cfg, torch.device("cpu"), ("trainer", "classic"))
    assert all(v.startswith("MISMATCH") for v in verdicts.values()), verdicts


@pytest.mark.parametrize("rule", ["sgd_momentum", "adam"])
def test_classic_side_is_the_classic_solver_loop(bench, rule) -> None:
    """The classic side trains exactly like the torch reference (and so like the Trainer) with a stateful rule."""
    common = bench["common"]
    options = {"learning_rate": 1e-2, **({"momentum": 0.9} if rule == "sgd_momentum" else {})}
    cfg = common.Config([20, 7, 7, 3], 8, rule, options)
    verdicts = bench["equivalence"].check_equivalence(cfg, torch.device("cpu"), ("classic", "torch-fused"), steps=4)
    assert verdicts["classic"].startswith("ok"), verdicts
    assert verdicts["torch-fused"].startswith(("ok", "not checked")), verdicts


def test_bare_step_is_the_trainer_step_without_the_loop(bench) -> None:
    """The overhead benchmark's bare work trains the model as ``Trainer.step`` does."""
    common, sides, overhead = bench["common"], bench["sides"], bench["overhead"]
    cfg = common.Config([20, 7, 3], 8, "sgd_momentum", {"learning_rate": 1e-2, "momentum": 0.9})
    data = common.make_data(torch.device("cpu"), torch.float64, num_samples=32, cfg=cfg)
    batches = [(data["X_train"][i : i + 8].clone(), data["y_train"][i : i + 8].clone()) for i in range(0, 32, 8)]
    a, b = (sides.make_trainer(cfg, data, torch.device("cpu"), torch.float64) for _ in range(2))
    a.sampler = overhead.PreslicedSampler(batches)
    for _ in batches:  # the first step is checked and then the same update as the others
        a.step()
    losses = [overhead.bare_step(b.model, b.updater, b.optim_configs, *batch) for batch in batches]
    assert losses[-1] == pytest.approx(a.loss_history[-1], rel=1e-12)
    for name, w in a.model.params.items():
        torch.testing.assert_close(b.model.params[name], w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("variant", ["full", "presliced", "quiet"])
def test_overhead_variants_run_and_interleave_the_bare_steps(bench, variant, monkeypatch) -> None:
    copies = []
    real = torch.index_select
    monkeypatch.setattr(torch, "index_select", lambda *a, **k: copies.append(1) or real(*a, **k))
    r = bench["overhead"].run_overhead("tiny", 1000, 1, variant, torch.device("cpu"), torch.float32)
    assert r["steps_per_epoch"] == 10
    assert r["bare_s"] > 0 and r["epoch_s"] > 0  # the bare steps ran (timed apart from the epoch)
    assert r["loop_overhead_pct_min"] <= r["loop_overhead_pct"] <= r["loop_overhead_pct_max"]
    assert (len(copies) > 0) == (variant != "presliced")  # the Trainer's row copies, and only those


def test_loss_benchmark_checks_both_sides_and_prints_a_row_per_case(bench, threads, capsys) -> None:
    argv = ["--batches", "5", "33", "--classes", "3", "40", "--repeats", "1", "--calls", "2", "--threads", "1"]
    assert bench["loss"].main(argv) == 0
    out = capsys.readouterr().out
    cases = [line.split(" | ")[:2] for line in out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert cases == [["| 5", "3"], ["| 33", "3"], ["| 5", "40"], ["| 33", "40"]]


def test_step_profile_sorts_ops_into_kinds_and_prints_each_side(bench, threads, capsys) -> None:
    profiler = bench["step_profile"]
    kinds = {op: profiler.kind_of(op) for op in ("aten::addmm_", "aten::mm", "aten::_foreach_add_",
                                                 "aten::_fused_adam_", "aten::index_select", "aten::uniform_",
                                                 "aten::threshold_backward", "aten::addmm_x")}
    assert kinds == {"aten::addmm_": "products", "aten::mm": "products", "aten::_foreach_add_": "update",
                     "aten::_fused_adam_": "update", "aten::index_select": "gather", "aten::uniform_": "random",
                     "aten::threshold_backward": "rest", "aten::addmm_x": "rest"}
    assert profiler.main(["--configs", "dropout", "--sides", "trainer", "mm", "--steps", "2", "--warmup", "1",
                          "--threads", "1", "--top", "3"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| dropout |")]
    assert sum("| minifc Trainer | aten::" in line for line in rows) == 3  # its top 3 ops
    kinds_row = rows[0].split(" | ")
    assert kinds_row[1] == "minifc Trainer" and float(kinds_row[3].split()[0]) > 0  # the products take time
    assert "(100%)" in rows[1]  # the matmul-only side is all products


def test_throughput_overhead_option_still_works(bench, threads, capsys) -> None:
    argv = ["--overhead", "--overhead-samples", "1000", "--repeats", "1", "--overhead-variant", "quiet",
            "--threads", "1"]
    assert bench["throughput"].main(argv) == 0
    assert "twolayer (quiet): batch 100, 10 steps/epoch" in capsys.readouterr().out


@pytest.mark.subprocess
def test_memory_is_measured_in_a_fresh_process(bench) -> None:
    assert bench["memory"].measure("tiny", "classic", steps=1) > 0


@pytest.mark.slow
def test_compiled_reference_runs_and_matches_torch(bench, threads, capsys) -> None:
    """Compiles a training step (about 30 s on a 2-core CPU with a cold inductor cache)."""
    assert bench["throughput"].main([*TINY, "--minifc", "trainer", "--references", "torch", "torch-compile"]) == 0
    table = rows(capsys.readouterr().out)
    compiled = next(v for k, v in table.items() if k.startswith("torch.compile"))
    assert compiled[2] == "skipped" or compiled[-1].startswith("ok (max |dloss|"), compiled


@pytest.mark.subprocess
def test_budget_benchmark_runs_each_budget_as_a_process_and_writes_table_and_plot(tmp_path, capsys) -> None:
    """benchmarks/budget.py --smoke: a tiny synthetic CIFAR-10, one 8 s run of `minifc example best --budget 8`."""
    for module in ("minifc_recipes", "minifc_norm", "minifc_optim_extra", "numpy"):
        pytest.importorskip(module, reason="the budget benchmark runs the example best (plugin packages)")
    sys.path.insert(0, str(BENCH))
    try:
        budget = importlib.import_module("budget")
    finally:
        sys.path.remove(str(BENCH))
    out = tmp_path / "out"
    assert budget.main(["--smoke", "--budgets", "8", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "budget.json").read_text())
    (row,) = result["rows"]
    assert row["budget"] == 8.0 and row["budget_s"] == 8.0 and (out / "budget-8s" / "summary.json").exists()
    assert row["seconds"] <= 8.0 + 1.0 and row["process_seconds"] < 8.0 + 5.0
    assert row["test_acc_single_view"] > 0.3 and row["test_acc_multi_view"] > 0.3  # chance: 0.1
    md = (out / "budget.md").read_text()
    assert md.startswith("| budget | settings (tier) | epochs | test, 1 view | test, chosen views |")
    assert "| 8 s |" in md and md.splitlines()[2] in printed
    if find_spec("matplotlib"):
        assert (out / "accuracy_vs_budget.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("script", ["throughput", "memory", "loss", "step_profile", "overhead", "ablation",
                                    "budget", "distributed"])
def test_a_device_that_is_not_here_is_named_before_anything_runs(script, capsys) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        module = importlib.import_module(script)
        parse = getattr(module, "parse_args", getattr(module, "main", None))
        extra = {"ablation": ["--data", "d", "--tier", "pca256-1x1024"], "budget": ["--data", "d"]}.get(script, [])
        with pytest.raises(SystemExit) as info:
            parse(["--device", "nope", *extra])
        assert info.value.code == 2
        assert "--device: 'nope' is not a torch device" in capsys.readouterr().err
        if not torch.cuda.is_available():
            with pytest.raises(SystemExit):
                parse(["--device", "cuda", *extra])
            assert "--device: 'cuda' was asked for but CUDA is not available here" in capsys.readouterr().err
    finally:
        sys.path.remove(str(BENCH))


def test_budget_benchmark_arguments() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        budget = importlib.import_module("budget")
    finally:
        sys.path.remove(str(BENCH))
    assert budget.parse_args(["--data", "d"]).budgets == [20.0, 60.0, 120.0, 300.0, 900.0]
    assert budget.parse_args(["--smoke"]).budgets == [10.0]
    for bad in (["--smoke", "--data", "d"], ["--data", "d", "--budgets", "0"]):
        with pytest.raises(SystemExit):
            budget.parse_args(bad)
    assert budget.fmt_budget(900) == "15 min" and budget.fmt_budget(90) == "90 s" and budget.fmt_budget(20) == "20 s"


def recipe_benchmarks(name: str, why: str) -> tuple:
    """The budget benchmark (its tiny synthetic CIFAR-10 writer) and the benchmark ``name``, which run the
    example best: skipped, saying ``why``, without its plugin packages."""
    for module in ("minifc_recipes", "minifc_norm", "minifc_optim_extra", "numpy"):
        pytest.importorskip(module, reason=why)
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("budget"), importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


def test_ablation_reports_validation_per_variant(tmp_path, capsys) -> None:
    """benchmarks/ablation.py on a tiny synthetic CIFAR-10 (the budget benchmark's), one epoch per variant."""
    budget, ablation = recipe_benchmarks("ablation", why="the ablation runs the example best (plugin packages)")
    data = budget.write_tiny_cifar(tmp_path, per_batch=80, n_test=20)  # 320 training images: above 256 dims
    recipe_tier = "pca256-1x1024"
    argv = ["--data", str(data), "--tier", recipe_tier, "--epochs", "1", "--threads", "1",
            "--variants", "", "pca_dims=16,width=32", "mixup=0.2,pca_dims=16"]
    n = torch.get_num_threads()
    try:
        assert ablation.main(argv) == 0
    finally:
        torch.set_num_threads(n)
    out = capsys.readouterr().out
    assert f"{recipe_tier}, 1 epochs, 1 threads, seed 0; validation accuracy" in out
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert table[0] == "| variant | 1 view | 2 views | change (1 view) | training s |"
    assert [line.split(" | ")[0] for line in table[1:]] == ["| (the tier)", "| pca_dims=16,width=32",
                                                             "| mixup=0.2,pca_dims=16"]
    assert table[1].split(" | ")[3] == "+0.00" and "test" not in out.lower()


@pytest.mark.parametrize("inputs", [
    {"pca_dims": None, "zca_samples": 200},  # ZCA: views are shifted images
    {"pca_dims": 16, "pca_samples": 300, "padding": 1},  # projected rows: views built up to 2, measured up to 3
])
def test_views_benchmark_scores_grids_of_a_saved_model(tmp_path, capsys, inputs) -> None:
    """benchmarks/views.py on the model.pt of a one-epoch `best` run on a tiny synthetic CIFAR-10."""
    budget, views = recipe_benchmarks("views", why="the views benchmark reads a model of the example best (plugins)")
    from minifc_recipes.best import best

    from minifc.data import load_cifar10
    from minifc.experiments.example_options import ExampleOptions

    data_dir = budget.write_tiny_cifar(tmp_path / "data", per_batch=80, n_test=20)
    data = load_cifar10(data_dir)
    options = ExampleOptions(out=tmp_path / "run", epochs=1, verbose=False,
                             extra={"recipe": {"width": 16, "tta_shift": 2, **inputs}})
    row = best(data, options)["rows"][0]
    assert views.main(["--model", row["model"], "--data", str(data_dir), "--radius", "3"]) == 0
    out = capsys.readouterr().out
    table = dict(line.strip("| ").split(" | ") for line in out.splitlines()[3:] if line.startswith("| "))
    assert list(table) == ["1 (the image)", "2 (and its mirror)", "18: shifts {-1, 0, 1}^2, mirrored",
                           "18: shifts {-2, 0, 2}^2, mirrored", "18: shifts {-3, 0, 3}^2, mirrored",
                           "50: shifts [-2, 2]^2, mirrored", "98: shifts [-3, 3]^2, mirrored"]
    expected = row["val_acc_by_views"]  # the run's own measure of 1, 2 and its 18 views (shift 2)
    for name, count in (("1 (the image)", 1), ("2 (and its mirror)", 2), ("18: shifts {-2, 0, 2}^2, mirrored", 18)):
        assert table[name] == f"{expected[count]:.2%}"


def test_throughput_clip_norm_adds_the_trainer_with_clipping_and_its_cost(bench, threads, capsys, tmp_path) -> None:
    out_json = tmp_path / "out.json"
    argv = [*TINY, "--minifc", "trainer", "--references", "--no-check", "--clip-norm", "--json", str(out_json)]
    assert bench["throughput"].main(argv) == 0
    table = rows(capsys.readouterr().out)
    clipped = table["minifc Trainer + clip_norm"]
    assert "(" in clipped[5] and "-" in clipped[5], clipped  # the Trainer's speed over it: the cost of clipping
    result = json.loads(out_json.read_text())["results"][0]
    assert result["speedups"]["trainer"]["trainer-clip"]["median"] > 0


@pytest.mark.subprocess
def test_sweep_benchmark_smoke_measures_both_settings(tmp_path, capsys) -> None:
    """benchmarks/sweep.py --smoke: one net, 1 worker x 2 threads and 2 workers x 1 thread, two trials each."""
    pytest.importorskip("optuna", reason="benchmarks/sweep.py runs minifc sweep: the sweep extra (optuna)")
    pytest.importorskip("numpy", reason="the smoke run writes CIFAR-10 batches: numpy")
    sys.path.insert(0, str(BENCH))
    try:
        sweep = importlib.import_module("sweep")
        sweep.main(["--smoke", "--out", str(tmp_path), "--json", str(tmp_path / "rows.json")])
    finally:
        sys.path.remove(str(BENCH))
        sys.modules.pop("sweep", None)
    out = capsys.readouterr().out
    assert out.startswith("machine: ") and "bf16/AMX flags" in out and "torch " in out
    got = json.loads((tmp_path / "rows.json").read_text())
    assert [(r["workers"], r["threads"], r["trials"]) for r in got] == [(1, 2, 2), (2, 1, 2)]
    assert all(r["per_hour"] > 0 for r in got)
    assert all(r["trial_seconds"] > 0 and 0 < r["training_share"] < 1.5 for r in got)


@pytest.mark.subprocess
def test_core_scaling_times_one_thread_two_threads_and_two_processes() -> None:
    """benchmarks/core_scaling.py: three timed child processes; the ratios follow from the timings."""
    sys.path.insert(0, str(BENCH))
    try:
        scaling = importlib.import_module("core_scaling")
        r = scaling.probe(steps=20, hidden=[20, 20])
        line = r.describe()
    finally:
        sys.path.remove(str(BENCH))
        sys.modules.pop("core_scaling", None)
    assert min(r.one_thread, r.two_threads, r.two_processes) > 0
    assert r.thread_speedup == pytest.approx(r.one_thread / r.two_threads)
    assert r.process_throughput == pytest.approx(2 * r.one_thread / r.two_processes)
    assert r.sweep_ceiling == pytest.approx(r.process_throughput / r.thread_speedup)
    assert line.startswith("core scaling (20 steps of hidden [20, 20])") and "at most" in line
