"""Which pathway of DATM + TAD costs or gains accuracy: a factorial diagnosis, plus an oracle.

DATM reads the real data in three places, and TAD can change each of them:

* ``trajectories``: the experts whose trajectories are matched (vanilla or TAD experts);
* ``pool``: the real images the synthetic set starts from (all, with the noisy labels, or
  TAD's trusted space, with its labels);
* ``init_experts``: the experts that pick the correctly-classified initial images and give
  the soft labels their logits (vanilla or TAD experts);

and TAD's experts themselves train with or without the ``consistency`` term. Every arm
shares the data, the noise, the evaluation networks and (through common random numbers)
the experts' initialisations and batches, so differences between arms are the pathways'.

The ``oracle`` arm trains its experts on the truly clean samples only and starts from
them: the ceiling that a perfect division would give. It reads the clean labels, so it is
a diagnostic and is never used to choose anything.

:func:`separability` asks the question under every division: after each epoch of an expert
trained on all the noisy data, how well do the per-sample scores a divider could use (the
loss, its running mean, the margin of the given label, the agreement of the nearest
neighbours' labels in the expert's features) separate the truly clean samples from the
mislabelled ones (ROC AUC: 0.5 is chance, 1 is perfect)? It too reads the clean labels and
chooses nothing.

:func:`recall_ceiling` asks the same of the inner loop: at the end of a TAD expert, how often
would the pseudo-labels of its untrusted samples be right, for the most reliable of them first,
and how many would the inner loop recall with and without its maturity gate? A diagnostic too.

:func:`peer_division` asks whether the division suffers from confirmation bias: two TAD experts
trained side by side, each dividing by its own scores or by the other's (co-teaching's exchange).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from tad.arms import consensus_state, evaluate_arm, trusted_pool
from tad.buffer import Expert, final_scores, plain_noise_rates
from tad.config import ExperimentConfig, TrustConfig
from tad.context import NoisyData, RunContext, expert_spec, prepare_data
from tad.distill.datm import initial_synthetic_set
from tad.distill.matching import distill_trajectory_matching
from tad.diversion import TrustState, trust_diagnostics
from tad.evidence import class_evidence
from tad.experts import (
    ExpertTask,
    divide_if_due,
    epoch_entry,
    make_optimizer,
    outer_inner_step,
    train_trusted_epoch,
)
from tad.models import build_model, unflatten_params
from tad.noise_rate import agreement_error, confident_learning_rates, corrected_rates
from tad.recalibrate import recalibrate
from tad.rng import generator, sklearn_seed
from tad.targets import SHARE_BAND
from tad.trust import SampleScores, TrustSplit, score_samples

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FactorialArm:
    """One cell of the diagnosis: where TAD is used (``oracle`` marks the diagnostic ceiling)."""

    trajectories: str  # "vanilla", "tad" or "oracle"
    pool: str  # "all" or "trusted"
    init_experts: str  # "vanilla" or "tad"
    consistency: bool  # TAD's experts train with the consistency term

    @property
    def name(self) -> str:
        if self.trajectories == "oracle":
            return "oracle"
        cons = "cons" if self.consistency else "nocons"
        return f"traj={self.trajectories},pool={self.pool},init={self.init_experts},{cons}"

    @property
    def uses_tad(self) -> bool:
        return "tad" in (self.trajectories, self.init_experts) or self.pool == "trusted"


def factorial_arms(*, oracle: bool = True) -> list[FactorialArm]:
    """Every combination of the three pathways and the consistency term, without duplicates.

    The arm that uses no TAD expert (vanilla DATM) does not depend on the consistency term,
    so it appears once.
    """
    arms = []
    for traj, pool, init, cons in itertools.product(
        ("vanilla", "tad"), ("all", "trusted"), ("vanilla", "tad"), (True, False)
    ):
        arm = FactorialArm(traj, pool, init, cons)
        if arm.uses_tad or cons:
            arms.append(arm)
    if oracle:
        arms.append(FactorialArm("oracle", "trusted", "oracle", False))
    return arms


def oracle_split(nd: NoisyData) -> TrustSplit:
    """The perfect division: the samples whose observed label is the true one (reads clean labels)."""
    clean = nd.noisy_labels == nd.clean_labels
    k = nd.data.num_classes
    return TrustSplit(clean, nd.noisy_labels.clone(), torch.zeros_like(clean), clean.float(), torch.zeros(k))


class Diagnosis:
    """The experts of every kind for one noise setting, trained once and shared by all arms."""

    def __init__(
        self,
        config: ExperimentConfig,
        *,
        device: torch.device,
        experts_root: Path | None,
        progress: Progress | None = None,
    ) -> None:
        self.ctx = RunContext(config, prepare_data(config), device, progress, experts_root=experts_root)
        self.config, self.device, self.nd = config, device, self.ctx.nd
        self._experts: dict[tuple[str, bool], list[Expert]] = {}

    def experts(self, kind: str, consistency: bool = True) -> list[Expert]:
        key = (kind, consistency if kind == "tad" else True)
        if key not in self._experts:
            ctx = self.ctx
            if kind == "tad" and not consistency:
                ctx = replace(
                    ctx, config=replace(ctx.config, trust=replace(ctx.config.trust, lambda_cons=0.0))
                )
            fixed = oracle_split(self.nd) if kind == "oracle" else None
            self._experts[key] = ctx.experts(kind, fixed)
        return self._experts[key]

    def trust_state(self, consistency: bool) -> TrustState:
        return consensus_state(
            self.experts("tad", consistency), self.nd.noisy_labels, self.nd.data.num_classes
        )

    def pool(self, arm: FactorialArm) -> tuple[Tensor, Tensor, dict | None]:
        """The labels and initial pool of ``arm``, and the trusted space's diagnostics if used."""
        nd, k, ipc = self.nd, self.nd.data.num_classes, self.config.ipc
        if arm.trajectories == "oracle":
            state = TrustState(split=oracle_split(nd))
        elif arm.pool == "trusted":
            state = self.trust_state(arm.consistency)
        else:
            everyone = torch.ones_like(nd.noisy_labels, dtype=torch.bool)
            return nd.noisy_labels, everyone, None
        quality = trust_diagnostics(state.split, nd.noisy_labels, nd.clean_labels, k)
        return state.split.labels, trusted_pool(state, ipc, k), quality

    def run_arm(self, arm: FactorialArm) -> dict:
        """Distil with ``arm``'s pathways and evaluate; a results row without its provenance."""
        config, nd = self.config, self.nd
        images, k = nd.data.train_images, nd.data.num_classes
        trajectories = self.experts(arm.trajectories, arm.consistency)
        init_experts = self.experts(arm.init_experts, arm.consistency)
        labels, pool, quality = self.pool(arm)
        skeleton = build_model(
            config.model, channels=images.shape[1], num_classes=k, image_size=images.shape[-1]
        )
        gen = generator(config.seed, "distill", "diagnosis")  # the same stream for every arm
        init = initial_synthetic_set(
            images,
            labels,
            pool,
            config.ipc,
            k,
            config=config.tm,
            skeleton=skeleton.to(self.device),
            expert_params=[e.final_params.to(self.device) for e in init_experts],
            generator=gen,
        )
        syn = distill_trajectory_matching(
            [e.trajectory for e in trajectories],
            init,
            config=config.tm,
            skeleton=skeleton,
            augment=config.augment,
            generator=gen,
            device=self.device,
        ).detached()
        evaluation = evaluate_arm(self.ctx, arm.name, syn)
        return {"arm": arm.name, "factors": vars(arm), "pool_quality": quality, **evaluation.to_dict()}


def _auc(clean: Tensor, score: Tensor) -> float:
    """ROC AUC of ``score`` (higher: more likely clean) for the bool target ``clean``."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(clean.numpy(), score.double().numpy()))


def neighbour_agreement(features: Tensor, labels: Tensor, k: int = 20, chunk: int = 2048) -> Tensor:
    """(N,) share of each sample's ``k`` nearest neighbours (cosine, itself excluded) sharing its label."""
    f = torch.nn.functional.normalize(features.float(), dim=1)
    out = torch.empty(len(f))
    for start in range(0, len(f), chunk):
        sim = f[start : start + chunk] @ f.T
        rows = torch.arange(sim.shape[0])
        sim[rows, rows + start] = -2.0  # not its own neighbour
        nearest = sim.topk(k, dim=1).indices
        out[start : start + chunk] = (labels[nearest] == labels[start : start + chunk, None]).float().mean(1)
    return out


def sized_precision(
    clean: Tensor, score: Tensor, labels: Tensor, num_classes: int, *, slack: float = 0.0
) -> float:
    """Precision of a division told how many labels of each class are right, ranking by ``score``.

    Diagnostic only (it reads the truth ``clean``): in every class it trusts the ``k_c`` best-scored
    samples, with ``k_c`` the class's number of right labels less ``slack`` of its size (with ``slack`` at
    ``tad.targets.SHARE_BAND``, the low end of the targets' band around the true share). No threshold
    rule fed by the same score can do much better at that share: it is the ceiling of the score, not of
    a rule.
    """
    hits = kept = 0
    for c in range(num_classes):
        idx = torch.nonzero(labels == c).squeeze(1)
        k = int(clean[idx].sum()) - round(slack * idx.numel())
        if k <= 0:
            continue
        best = idx[torch.argsort(score[idx], descending=True)[:k]]
        hits += int(clean[best].sum())
        kept += k
    return hits / kept if kept else float("nan")


@torch.no_grad()
def separability(
    expert: Expert, config: ExperimentConfig, nd: NoisyData, *, k: int = 20, batch: int = 1000
) -> list[dict]:
    """Per epoch of ``expert``'s trajectory, how well each score separates clean from mislabelled samples.

    Diagnostic only: it reads the clean labels. Returns one dict per epoch with the expert's accuracy
    on its training images against their true labels; the ROC AUC of the loss, the loss averaged over
    the epochs so far, the margin of the given label and the neighbours' label agreement (None when
    the labels hold only one kind); each score's :func:`tad.diagnose.sized_precision` at the true share
    (``sized_precision_<score>``) and at the true share less ``SHARE_BAND`` (``..._low``); and, per
    class, the statistics of the outer loop's evidence test
    (:func:`tad.evidence.noise_evidence` with the default settings): the separation of the two loss
    components, the high component's mean in units of ln C and in units of the median loss of the
    labels the network predicts (the ratio criterion's statistic; None when it predicts none), the
    class's true share of wrong labels, and whether the test would split the class.
    """
    images, noisy = nd.data.train_images, nd.noisy_labels
    c = nd.data.num_classes
    clean = noisy == nd.clean_labels
    both = bool(clean.any()) and not bool(clean.all())
    net = build_model(
        config.model, channels=images.shape[1], num_classes=c, image_size=images.shape[-1]
    ).eval()
    default = TrustConfig()
    rows, total = [], torch.zeros(len(noisy))
    for epoch in range(1, expert.trajectory.shape[0]):
        net.load_state_dict(unflatten_params(net, expert.trajectory[epoch]), strict=False)
        features = torch.cat([net.embed(images[i : i + batch]) for i in range(0, len(images), batch)])
        logits = net.classifier(features)
        loss = torch.nn.functional.cross_entropy(logits, noisy, reduction="none")
        total += loss
        probs = logits.softmax(1)
        given = probs.gather(1, noisy[:, None]).squeeze(1)
        others = probs.scatter(1, noisy[:, None], -1.0).max(1).values
        scores = {
            "auc_loss": -loss,
            "auc_mean_loss": -total / epoch,
            "auc_margin": given - others,
            "auc_neighbours": neighbour_agreement(features, noisy, k),
        }
        evidence = class_evidence(loss, noisy, c, config=default, seed=epoch, predictions=logits.argmax(1))
        rows.append(
            {
                "epoch": epoch,
                "true_label_accuracy": float((logits.argmax(1) == nd.clean_labels).float().mean()),
                **{name: _auc(clean, score) if both else None for name, score in scores.items()},
                **{
                    f"sized_precision_{name[4:]}{suffix}": (
                        sized_precision(clean, score, noisy, c, slack=slack) if both else None
                    )
                    for name, score in scores.items()
                    for suffix, slack in (("", 0.0), ("_low", SHARE_BAND))
                },
                "evidence": [
                    {
                        "separation": e.separation,
                        "high_level": e.high_loss / math.log(c),
                        "right_ratio": e.high_loss / e.right_loss if e.right_loss > 0 else None,
                        "wrong_share": float((~clean[noisy == cls]).float().mean()),
                        "split": e.split,
                    }
                    for cls, e in enumerate(evidence)
                ],
            }
        )
    return rows


RANKED_SHARES = (0.02, 0.05, 0.1, 0.2, 0.4)


def _accuracy(labels: Tensor, clean_labels: Tensor, chosen: Tensor) -> float | None:
    """Share of the ``chosen`` samples whose ``labels`` are their true labels (None: none chosen)."""
    return float((labels[chosen] == clean_labels[chosen]).float().mean()) if chosen.any() else None


def _final_scores(expert: Expert, config: ExperimentConfig, nd: NoisyData) -> SampleScores:
    """``expert``'s final network scoring every training sample against its final labels."""
    return final_scores(expert, config.model, nd.data.train_images, expert.labels, nd.data.num_classes)


def ranked_accuracy(
    pseudo_labels: Tensor,
    score: Tensor,
    eligible: Tensor,
    untrusted: Tensor,
    clean_labels: Tensor,
    wrong: Tensor,
) -> list[dict]:
    """Pseudo-label accuracy of the ``eligible`` untrusted samples ranked by ``score`` (highest first).

    For each share of ``RANKED_SHARES`` of the untrusted space: how many samples the top of the
    ranking holds, the share of their pseudo-labels that are right, and the share of them that
    carried a wrong given label (``wrong``). Diagnostic only: it reads the clean labels.
    """
    candidates = torch.nonzero(eligible & untrusted).squeeze(1)
    ranked = candidates[torch.argsort(score[candidates], descending=True)]
    rows = []
    for share in RANKED_SHARES:
        top = ranked[: round(share * int(untrusted.sum()))]
        chosen = torch.zeros_like(untrusted)
        chosen[top] = True
        rows.append(
            {
                "share": share,
                "count": int(top.numel()),
                "pseudo_label_accuracy": _accuracy(pseudo_labels, clean_labels, chosen),
                "given_label_wrong": float(wrong[top].float().mean()) if top.numel() else None,
            }
        )
    return rows


@torch.no_grad()
def recall_ceiling(
    expert: Expert, config: ExperimentConfig, nd: NoisyData, *, ensemble_probs: Tensor | None = None
) -> dict:
    """How right the inner loop's pseudo-labels would be on ``expert``'s final untrusted space.

    Diagnostic only: it reads the clean labels. The expert's final network scores every sample
    against its final labels; :func:`tad.recalibrate.recalibrate` runs once with the configured
    maturity gate and once without it (seed 0, a single step on the final state, where in training
    it runs at every division). Returns the trusted share and its precision (share of right labels),
    the untrusted space's size and share of wrong labels, the classifier's accuracy there against the
    true labels, the gate's maturity
    (nearest-anchor accuracy on held-out trusted samples) against its level γ, the recalls with and
    without the gate, the accuracy of the ungated recalls' pseudo-labels and of their given labels,
    and, for the untrusted candidates ranked by reliability, the pseudo-label accuracy of the top
    share (``RANKED_SHARES`` of the untrusted space) and how many of them carried a wrong label.

    Two other rankings of the same untrusted space (``ranked_by``) ask whether the experts hold
    pseudo-labels more precise than the reliability finds: ``confidence`` labels each sample with
    the expert's own prediction, ranked by its softmax probability; ``ensemble`` (with
    ``ensemble_probs``, the mean softmax of all experts of the setting) labels it with the
    ensemble's prediction, ranked by the ensemble's probability, among the samples where this
    expert's prediction agrees with the ensemble's.
    """
    clean_labels = nd.clean_labels
    c = nd.data.num_classes
    scores = _final_scores(expert, config, nd)
    p_clean = expert.p_clean if expert.p_clean is not None else expert.trusted.float()
    split = TrustSplit(
        expert.trusted, expert.labels, torch.zeros_like(expert.trusted), p_clean, torch.zeros(c)
    )
    gated = recalibrate(scores.features, scores.probs, split, c, config=config.recalib)
    ungated = recalibrate(
        scores.features, scores.probs, split, c, config=replace(config.recalib, require_maturity=False)
    )
    untrusted = ~expert.trusted
    wrong = nd.noisy_labels != clean_labels
    confidence, predicted = scores.probs.max(dim=1)
    ranked_by = {
        "confidence": ranked_accuracy(
            predicted, confidence, torch.ones_like(untrusted), untrusted, clean_labels, wrong
        )
    }
    if ensemble_probs is not None:
        mean_confidence, mean_predicted = ensemble_probs.max(dim=1)
        ranked_by["ensemble"] = ranked_accuracy(
            mean_predicted, mean_confidence, predicted == mean_predicted, untrusted, clean_labels, wrong
        )
    return {
        "trusted_share": float(expert.trusted.float().mean()),
        "trusted_precision": float((~wrong[expert.trusted]).float().mean()) if expert.trusted.any() else None,
        "untrusted": int(untrusted.sum()),
        "untrusted_wrong_share": float(wrong[untrusted].float().mean()) if untrusted.any() else None,
        "classifier_accuracy_untrusted": float(
            (predicted[untrusted] == clean_labels[untrusted]).float().mean()
        )
        if untrusted.any()
        else None,
        "maturity": gated.maturity,
        "gamma": config.recalib.gamma,
        "recalled_gated": int(gated.recalled.sum()),
        "recalled_ungated": int(ungated.recalled.sum()),
        "ungated_accuracy": _accuracy(ungated.candidates, clean_labels, ungated.recalled),
        "ungated_given_right": _accuracy(nd.noisy_labels, clean_labels, ungated.recalled),
        "ranked": ranked_accuracy(
            ungated.candidates, ungated.reliability, ungated.agree, untrusted, clean_labels, wrong
        ),
        "ranked_by": ranked_by,
    }


def noise_rate_estimate(
    probs: Tensor,
    nd: NoisyData,
    *,
    agreement: float | None = None,
    agreement_top2: float | None = None,
    others: dict[str, Tensor] | None = None,
) -> dict:
    """How well ``probs`` (an ensemble's softmax over the training samples) estimate the noise.

    Diagnostic only: it reads the clean labels to score the estimates, which themselves use none.
    Returns, per given label, the estimate of :func:`tad.noise_rate.confident_learning_rates` beside
    the true share of wrong labels, their mean absolute difference, and the division that keeps in each
    class the ``1 - estimate`` share of samples with the lowest loss under ``probs``: its trusted share
    and precision.

    ``agreement`` (the share of samples on which two of the ensemble's experts predict the same class)
    adds a corrected estimate. Two experts that are each right with probability ``a`` and err
    independently agree about ``a**2`` of the time, so ``e = 1 - sqrt(agreement)`` estimates the
    experts' own error, which the confident-learning estimate counts as noise; the corrected estimate
    is ``max(0, (estimate - e) / (1 - e))``, with its error and its sized division beside it.
    ``agreement_top2`` (each expert's prediction among the other's two most likely classes;
    ``trust.rate_agreement = "top2"``) adds the estimate corrected by it the same way. ``others`` names
    estimates made elsewhere (C,) to score beside them, each with its sized division.
    """
    labels, c = nd.noisy_labels, nd.data.num_classes
    right = labels == nd.clean_labels
    true = torch.stack([(~right[labels == k]).float().mean() for k in range(c)])
    loss = -probs.gather(1, labels[:, None]).squeeze(1).clamp(min=1e-12).log()

    def sized(estimate: Tensor) -> dict:
        kept = torch.zeros_like(right)
        for k in range(c):
            members = (labels == k).nonzero().squeeze(1)
            share = 1.0 if math.isnan(float(estimate[k])) else 1.0 - float(estimate[k])
            kept[members[torch.argsort(loss[members])[: round(share * len(members))]]] = True
        return {
            "estimated": [None if math.isnan(v) else v for v in estimate.tolist()],
            "mean_abs_error": float((estimate - true).abs().nanmean()),
            "sized_share": float(kept.float().mean()),
            "sized_precision": float(right[kept].float().mean()) if kept.any() else None,
        }

    estimate = confident_learning_rates(probs, labels, c)
    entry = {**sized(estimate), "true": true.tolist()}
    if agreement is not None:
        error = agreement_error(agreement)
        corrected = corrected_rates(estimate, error)
        entry["agreement"] = agreement
        entry["expert_error"] = error
        entry["corrected"] = sized(corrected)
    if agreement_top2 is not None:
        entry["agreement_top2"] = agreement_top2
        entry["corrected_top2"] = sized(corrected_rates(estimate, agreement_error(agreement_top2)))
    for name, other in (others or {}).items():
        entry[name] = sized(other)
    return entry


@torch.no_grad()
def ensemble_probs(experts: list[Expert], config: ExperimentConfig, nd: NoisyData) -> Tensor:
    """(N, C) mean softmax of the experts' final networks over every training sample."""
    return torch.stack([_final_scores(e, config, nd).probs for e in experts]).mean(dim=0)


def _against(scores: SampleScores, labels: Tensor) -> SampleScores:
    """``scores`` with their losses taken against ``labels`` (another expert's current labels)."""
    losses = torch.nn.functional.nll_loss(scores.probs.clamp_min(1e-12).log(), labels, reduction="none")
    return SampleScores(losses, scores.probs, scores.features)


class _SideBySide:
    """Two TAD experts trained epoch by epoch together (:func:`peer_division`)."""

    def __init__(self, task: ExpertTask, seed: int, device: torch.device, *, peer: bool) -> None:
        self.task, self.peer = task, peer
        gens = [generator(seed, "expert", e) for e in (0, 1)]  # the buffer's streams for experts 0, 1
        self.gens, self.seeds = gens, [g.initial_seed() for g in gens]
        self.nets = [task.build_net(g, device) for g in gens]
        self.optimizers = [make_optimizer(net, task.expert) for net in self.nets]
        self.states = [TrustState(split=task.initial_split()) for _ in gens]
        self.targets: list[Tensor | None] = [None, None]
        self.recorded: list[SampleScores | None] = [None, None]
        self.histories: list[list[dict]] = [[], []]

    def scores_for(self, e: int) -> SampleScores | None:
        """What expert ``e``'s trust step reads: its own recorded scores (None: its network scores every
        sample then), or its peer's, against ``e``'s labels."""
        labels = self.states[e].split.labels
        if not self.peer:
            return self.recorded[e]
        other = self.recorded[1 - e]
        if other is None:  # the peer recorded nothing: its network scores every sample
            return score_samples(self.nets[1 - e], self.task.images, labels)
        return _against(other, labels)

    def trust_step(self, e: int, epoch: int) -> tuple[TrustState, Tensor | None]:
        """:func:`tad.experts.divide_if_due` reading :meth:`scores_for`; after a step on the peer's scores,
        the consistency targets stay the expert's own predictions."""
        before, net = self.states[e], self.nets[e]
        step = (before, self.targets[e], self.scores_for(e), epoch, self.histories[e], self.seeds[e])
        state, targets = divide_if_due(self.task, net, *step)
        if self.peer and state is not before:
            own = self.recorded[e]
            if own is None:  # nothing recorded: the expert's network scores every sample now
                own = score_samples(net, self.task.images, state.split.labels)
            targets = own.probs
        return state, targets

    def epoch(self, epoch: int) -> None:
        """Both trust steps (on the scores of the last epoch), then both experts train one epoch."""
        stepped = [self.trust_step(e, epoch) for e in (0, 1)]
        for e, (state, targets) in enumerate(stepped):
            before = self.states[e].split.recalled
            self.states[e], self.targets[e] = state, targets
            loss, self.recorded[e] = train_trusted_epoch(
                self.task,
                self.nets[e],
                self.optimizers[e],
                state,
                targets,
                generator=self.gens[e],
                record=self.task.records_scores(epoch),
            )
            self.histories[e].append(epoch_entry(self.task, state, before, epoch, loss))

    def final(self, e: int) -> TrustState:
        seed = sklearn_seed(self.seeds[e], "final")
        return outer_inner_step(
            self.task, self.nets[e], self.states[e], seed=seed, recorded=self.scores_for(e)
        )[0]


def peer_division(
    config: ExperimentConfig, nd: NoisyData, *, device: torch.device, experts_root: Path | None = None
) -> dict:
    """Two TAD experts trained side by side, each dividing by its own scores (``own``: TAD's default)
    or by the other's (``peer``), with the same random streams in both modes.

    The ``peer`` mode is co-teaching's exchange (Han et al. 2018) brought to TAD's division: a network
    that divides by its own losses may keep trusting the wrong labels it has learnt (confirmation bias);
    its peer has learnt other ones. Each expert still trains on its own consistency targets and keeps
    its own trust state; only the scores its outer and inner loops read are the peer's (the peer's
    predictions from its last training pass, their losses taken against the expert's own labels). The
    ``own`` mode repeats the buffer's TAD experts 0 and 1 exactly. Diagnostic only: it reads the clean
    labels to report precision, recall and each network's accuracy on the true labels; it chose nothing.
    """
    if not (config.trust.enabled and config.trust.schedule == "dynamic"):
        raise ValueError("the peer-division diagnosis needs TAD experts that divide every epoch.")
    images, noisy, clean, k = nd.data.train_images, nd.noisy_labels, nd.clean_labels, nd.data.num_classes
    spec = expert_spec(config)
    rates = None
    if config.trust.sizing == "estimated":
        rates = plain_noise_rates(images, noisy, clean, k, spec, root=experts_root, device=device).rates
    task = spec.task("tad", images, noisy, clean, k, noise_rates=rates)
    out: dict = {"clean_share": float((noisy == clean).float().mean())}
    keep = ("epoch", "loss", "divided", "trusted_fraction", "precision", "recall", "recalled_size")
    for mode in ("own", "peer"):
        pair = _SideBySide(task, config.seed, device, peer=mode == "peer")
        for epoch in range(task.expert.epochs):
            pair.epoch(epoch)
        experts, spaces = [], []
        for e in (0, 1):
            split = pair.final(e).split
            quality = trust_diagnostics(split, noisy, clean, k)
            predicted = score_samples(pair.nets[e], images, clean).probs.argmax(1)
            spaces.append(split.trusted)
            experts.append(
                {
                    "epochs": [{key: h[key] for key in keep} for h in pair.histories[e]],
                    "final": {key: quality[key] for key in ("trusted_fraction", "precision", "recall")},
                    "true_label_accuracy": float((predicted == clean).float().mean()),
                }
            )
        overlap = float((spaces[0] & spaces[1]).sum() / (spaces[0] | spaces[1]).sum().clamp(min=1))
        out[mode] = {"experts": experts, "division_overlap": overlap}
    return out


__all__ = [
    "RANKED_SHARES",
    "Diagnosis",
    "FactorialArm",
    "ensemble_probs",
    "factorial_arms",
    "neighbour_agreement",
    "noise_rate_estimate",
    "oracle_split",
    "peer_division",
    "ranked_accuracy",
    "recall_ceiling",
    "separability",
    "sized_precision",
]
