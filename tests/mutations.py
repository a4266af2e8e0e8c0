"""Break one line of the method at a time and check that the test suite notices.

    .venv/bin/python tests/mutations.py            # every mutation
    .venv/bin/python tests/mutations.py recall     # one of them, by name

Each mutation is applied to a copy of ``tad/`` in a temporary folder (the working tree is never
touched), and the tests listed for it run against that copy. A mutation whose tests all pass is
reported as SURVIVED: a hole in the suite. tests/README.md keeps the list and what caught each one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPERTS = "tests/test_experts.py"

# name: (file, line as it is, line as the mutation has it, tests that must catch it)
MUTATIONS = {
    # the trust model starts from the true labels where they are given (a leak of the clean labels)
    "clean-labels-start": (
        "tad/experts.py",
        "everyone_trusted(self.labels, self.num_classes)",
        "everyone_trusted(self.labels if self.clean_labels is None else self.clean_labels, self.num_classes)",
        [f"{EXPERTS}::test_the_method_path_never_reads_the_clean_labels"],
    ),
    # the division is handed the true labels as the observed ones (survives: see tests/README.md)
    "clean-labels-divide": (
        "tad/experts.py",
        "trust_step(scores, state, task.labels, k,",
        "trust_step(scores, state, task.labels if task.clean_labels is None else task.clean_labels, k,",
        [f"{EXPERTS}::test_the_method_path_never_reads_the_clean_labels"],
    ),
    "no-consistency": (
        "tad/epoch.py",
        "if targets is not None and lambda_cons > 0:",
        "if False:",
        [
            "tests/test_experts.py::test_train_epoch_with_consistency_moves_the_net_even_without_trusted_samples"
        ],
    ),
    "no-recall": (
        "tad/recalibrate.py",
        "    recalled = select_recalls(rel, untrusted & agree, gamma=cuts[cand], cap=cap)",
        "    recalled = torch.zeros_like(untrusted)",
        [
            "tests/test_experts.py::test_tad_trusted_space_is_cleaner_than_the_noisy_labels",
            "tests/test_recalibrate.py",
        ],
    ),
    # under torchrun the evaluation networks are gathered out of order
    "eval-gather-order": (
        "tad/pipeline.py",
        '    results = [part["value"] for part in parts]',
        '    results = [part["value"] for part in reversed(parts)]',
        ["tests/test_torchrun.py::test_two_ranks_write_the_files_and_results_of_one_process"],
    ),
    "trust-everyone": (
        "tad/trust.py",
        "    trusted = p_clean >= thresholds[labels]",
        "    trusted = torch.ones_like(p_clean, dtype=torch.bool)",
        [
            "tests/test_trust.py",
            "tests/test_experts.py::test_tad_trusted_space_is_cleaner_than_the_noisy_labels",
        ],
    ),
}


def run(name: str) -> bool:
    """True when the mutation was caught (some listed test failed)."""
    path, before, after, tests = MUTATIONS[name]
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp)
        shutil.copytree(ROOT / "tad", copy / "tad")
        shutil.copytree(ROOT / "tests", copy / "tests")
        source = (copy / path).read_text()
        if source.count(before) != 1:
            raise SystemExit(f"{name}: the line to mutate is not in {path} exactly once; update MUTATIONS")
        (copy / path).write_text(source.replace(before, after))
        env = {**os.environ, "PYTHONPATH": str(copy), "OMP_NUM_THREADS": "1"}
        check = subprocess.run(
            [sys.executable, "-c", "import tad; print(tad.__file__)"],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
        )
        assert check.stdout.strip().startswith(str(copy)), "the mutated copy is not the one imported"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
        )
    caught = done.returncode != 0
    print(f"{name:<22} {'caught' if caught else 'SURVIVED'}  ({', '.join(tests)})", flush=True)
    return caught


def main() -> int:
    names = sys.argv[1:] or list(MUTATIONS)
    results = [run(n) for n in names]  # every mutation runs, even after one survives
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
