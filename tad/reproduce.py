"""Grids of experiments whose results are data: one JSON line per finished setting.

``python -m tad reproduce --preset cifar10-cpu --grid main`` runs every setting of
the grid that its results file does not hold yet, and appends each finished one as
a line: the setting, the command, the seed, the package version, the machine, the
wall time and the accuracies of every arm. The book's results page reads that file.

Grids (tad-method.md §4 lists the ablations the paper probably has):

* ``main``: clean; symmetric 20/40/60%; asymmetric 20/40%; pair-flip 20/40%; CIFAR-10N aggre and rand1;
* ``ablations``: symmetric and pair-flip 40%, TAD arm only, one variant at a time, and the full method
  made in the same run (variant ``full``) that the variants are read against;
* ``high-noise``: symmetric 80%, vanilla against TAD.
"""

from __future__ import annotations

import fcntl
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from tad import __version__, distributed
from tad.config import ExperimentConfig, NoiseConfig, apply_overrides, to_dict
from tad.distributed import SINGLE, World
from tad.presets import with_noise
from tad.variants import ABLATIONS

log = logging.getLogger(__name__)

MAIN_SETTINGS: tuple[NoiseConfig, ...] = (
    NoiseConfig(kind="clean"),
    NoiseConfig(kind="symmetric", rate=0.2),
    NoiseConfig(kind="symmetric", rate=0.4),
    NoiseConfig(kind="symmetric", rate=0.6),
    NoiseConfig(kind="asymmetric", rate=0.2),
    NoiseConfig(kind="asymmetric", rate=0.4),
    NoiseConfig(kind="pairflip", rate=0.2),
    NoiseConfig(kind="pairflip", rate=0.4),
    NoiseConfig(kind="real", real_labels="aggre"),
    NoiseConfig(kind="real", real_labels="rand1"),
)
ABLATION_SETTINGS = (NoiseConfig(kind="symmetric", rate=0.4), NoiseConfig(kind="pairflip", rate=0.4))
HIGH_NOISE_SETTINGS = (NoiseConfig(kind="symmetric", rate=0.8),)
# The "long" grid: DATM with more distillation iterations than the preset's, where noise hurts most.
LONG_SETTINGS = ABLATION_SETTINGS
LONG_ITERATIONS = 300


def named_settings(
    names: Iterable[str], known: Iterable[NoiseConfig] = MAIN_SETTINGS
) -> dict[str, NoiseConfig]:
    """The settings called ``names`` (``["symmetric-40", "clean"]``), in that order; an unknown name is
    an error that lists the known ones."""
    by_name = {noise.name: noise for noise in known}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; choose from {', '.join(by_name)}.")
    return {name: by_name[name] for name in names}


@dataclass(frozen=True)
class Job:
    """One row of a grid: a noise setting, a base method and (for ablations) a TAD variant."""

    grid: str
    method: str
    noise: NoiseConfig
    variant: str = "full"
    arms: tuple[str, ...] = ("random", "vanilla", "tad", "clean")
    iterations: int | None = None  # distillation iterations instead of the preset's (trajectory matching)

    @property
    def setting(self) -> str:
        return self.noise.name

    def key(self, preset: str, ipc: int, seed: int) -> str:
        return f"{preset}|{self.grid}|{self.method}|{self.setting}|{self.variant}|ipc{ipc}|seed{seed}"

    @property
    def overrides(self) -> tuple[str, ...]:
        """What this row changes in TAD's settings and lengths, as ``--set`` overrides."""
        variant = ABLATIONS[self.variant] if self.variant != "full" else ()
        return variant + (() if self.iterations is None else (f"tm.iterations={self.iterations}",))

    def config(self, base: ExperimentConfig) -> ExperimentConfig:
        config = replace(with_noise(base, self.noise), method=self.method, arms=self.arms)  # type: ignore[arg-type]
        config = apply_overrides(config, self.overrides)
        name = (
            f"{base.name}-{self.grid}-{self.method}-{self.setting}-{self.variant}-ipc{base.ipc}-s{base.seed}"
        )
        return replace(config, name=name)


def grid_jobs(grid: str, methods: tuple[str, ...]) -> list[Job]:
    """The jobs of ``grid`` for each base method, in the order they run."""
    jobs: list[Job] = []
    for method in methods:
        if grid == "main":
            for noise in MAIN_SETTINGS:
                arms = ("random", "vanilla", "tad") if noise.kind == "clean" else Job.arms
                jobs.append(Job("main", method, noise, arms=arms))
        elif grid == "ablations":
            # the full method first: the variants are read against a row made on the same machine, because
            # on another machine's floating point the same configuration lands elsewhere
            variants = ("full", *ABLATIONS)
            jobs += [Job("ablations", method, n, v, ("tad",)) for n in ABLATION_SETTINGS for v in variants]
        elif grid == "high-noise":
            jobs += [Job("high-noise", method, n, arms=("vanilla", "tad")) for n in HIGH_NOISE_SETTINGS]
        elif grid == "long":
            if method in ("mtt", "datm"):
                arms = ("vanilla", "tad", "clean")
                jobs += [Job("long", method, n, arms=arms, iterations=LONG_ITERATIONS) for n in LONG_SETTINGS]
        else:
            raise ValueError(f"unknown grid {grid!r}; choose from main, ablations, high-noise, long.")
    return jobs


def read_results(path: str | Path) -> list[dict]:
    """Every row of a results file (an absent file holds none).

    A line that is not a complete row (a process killed while appending, a damaged copy) is
    named in one log line and moved out of the file into ``<name>.bad-<time>``, under the
    file's lock, so that the row is run again instead of ending the grid in a traceback.
    """
    path = Path(path)
    if not path.exists():
        return []
    rows, _, bad = _parse_rows(path.read_text())
    return _set_aside(path) if bad else rows


def _parse_rows(text: str) -> tuple[list[dict], list[str], list[str]]:
    """The rows of a results file's ``text``, their lines as written, and the lines that are not rows."""
    rows, good, bad = [], [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if isinstance(row, dict) and "key" in row:
            rows.append(row)
            good.append(line)
        else:
            bad.append(line)
    return rows, good, bad


def _set_aside(path: Path) -> list[dict]:
    """Move the lines of ``path`` that are not rows into a ``.bad-`` file beside it (under the lock).

    Returns the rows the file keeps.
    """
    with open(path, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            rows, good, bad = _parse_rows(f.read())
            if not bad:
                return rows  # another process set them aside meanwhile
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            aside = path.with_name(f"{path.name}.bad-{stamp}")
            with open(aside, "a") as out:
                out.write("\n".join(bad) + "\n")
            f.seek(0)
            f.truncate()  # in place: appenders waiting on this lock keep writing to this file
            f.write("".join(line + "\n" for line in good))  # the rows exactly as written
            f.flush()
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    log.warning("%s: %d damaged line(s) moved to %s; their rows will run again", path, len(bad), aside.name)
    return rows


def append_result(path: str | Path, row: dict) -> None:
    """Append one complete JSON line under an exclusive lock, so that parallel runs never interleave."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.write(json.dumps(row) + "\n")
            f.flush()
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# Fields added after rows were written, and the behaviour those rows had (the field's first default);
# fields renamed since, by their old names.
_BEFORE_FIELD = {
    "trust.trajectories": "dividing",
    "trust.sizing": "mixture",
    "trust.sized_score": "rank",
    "trust.rate_agreement": "top1",
    "trust.rate_snapshots": 1,
    "trust.rate_snapshot_mean": "probabilities",
}
_OLD_NAME = {"trust.threshold_rule": "threshold"}


def settings_since(row: dict) -> dict[str, tuple]:
    """TAD's settings (``trust.*``, ``recalib.*``) in which ``row`` differs from what its grid would run
    today: ``{field: (the row's value, today's)}``; empty when the row is current."""
    today = ExperimentConfig()
    if row.get("variant", "full") != "full":
        today = apply_overrides(today, ABLATIONS[row["variant"]])
    changed = {}
    for section in ("trust", "recalib"):
        now, then = to_dict(getattr(today, section)), row["config"].get(section, {})
        for field, value in now.items():
            key = f"{section}.{field}"
            old = then.get(field, then.get(_OLD_NAME.get(key, ""), _BEFORE_FIELD.get(key, "<absent>")))
            if old != value:
                changed[key] = (old, value)
    return changed


def made_alike(rows: list[dict], grids: Iterable[list[dict]]) -> list[dict]:
    """The first of ``grids`` whose rows ran with the TAD settings that ``rows`` ran with (compared
    through :func:`settings_since`, so an ablation row matches the full method's rows of its time).

    For setting an older grid's rows (ablations, diagnoses) beside the full method's rows made with
    the same defaults. ``rows`` must agree among themselves; no match is an error.
    """
    wanted = {frozenset(settings_since(r).items()) for r in rows}
    if len(wanted) != 1:
        raise ValueError(f"the rows ran with {len(wanted)} different sets of TAD settings; split them first.")
    for grid in grids:
        if grid and {frozenset(settings_since(r).items()) for r in grid} == wanted:
            return grid
    changed = dict(next(iter(wanted))) or "today's defaults"
    raise ValueError(f"no grid ran with the same TAD settings as these rows ({changed}).")


def result_row(job: Job, key: str, preset: str, result_json: dict, command: list[str], wall: float) -> dict:
    """The results-file line of one finished job."""
    return {
        "key": key,
        "grid": job.grid,
        "method": job.method,
        "setting": job.setting,
        "variant": job.variant,
        "noise": to_dict(job.noise),
        "realised_noise_rate": result_json["noise"]["realised_rate"],
        "ipc": result_json["config"]["ipc"],
        "seed": result_json["config"]["seed"],
        "preset": preset,
        "package_version": __version__,
        "command": command,
        "machine": result_json["machine"],
        "wall_time_s": wall,
        "trust": {"final": result_json["trust"]["final"], "history": result_json["trust"]["history"]},
        "arms": result_json["arms"],
        "config": result_json["config"],
    }


def pending(jobs: list[Job], done: set[str], preset: str, ipc: int, seed: int) -> Iterator[tuple[Job, str]]:
    for job in jobs:
        key = job.key(preset, ipc, seed)
        if key in done:
            log.info("skipping %s: already in the results file", key)
            continue
        yield job, key


def run_grid(
    base: ExperimentConfig,
    preset: str,
    jobs: list[Job],
    results_path: str | Path,
    *,
    run: Callable[[ExperimentConfig], dict],
    command: list[str],
    on_row: Callable[[dict], None] | None = None,
    world: World = SINGLE,
) -> int:
    """Run the jobs missing from ``results_path``; ``run`` maps a config to its results JSON.

    The file is read again before each job, so that grids running side by side on the same file
    (two shells, one torch thread each) skip the rows the other has finished meanwhile. Under
    torchrun (``world``) setting ``s`` of the grid is rank ``s mod N``'s, all its jobs together
    (a setting's DM and DATM rows share their experts). Returns the rows this process added.
    """
    settings = list(dict.fromkeys(job.setting for job in jobs))
    distributed.check_agreement(
        world, "grid", [to_dict(base), [job.key(preset, base.ipc, base.seed) for job in jobs]]
    )
    distributed.check_work(world, len(settings), "settings in this grid")
    mine = set(world.share(settings))
    count = 0
    for job in (j for j in jobs if j.setting in mine):
        done = {row["key"] for row in read_results(results_path)}
        found = list(pending([job], done, preset, base.ipc, base.seed))
        if not found:
            continue
        key = found[0][1]
        start = time.perf_counter()
        result_json = run(job.config(base))
        row = result_row(job, key, preset, result_json, command, time.perf_counter() - start)
        append_result(results_path, row)
        count += 1
        if on_row is not None:
            on_row(row)
    distributed.barrier(world)
    return count


__all__ = [
    "LONG_ITERATIONS",
    "MAIN_SETTINGS",
    "Job",
    "append_result",
    "grid_jobs",
    "named_settings",
    "read_results",
    "result_row",
    "run_grid",
    "settings_since",
]
