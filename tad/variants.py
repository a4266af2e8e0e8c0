"""Named variants of TAD's settings, each a list of overrides in the command line's words.

A variant is what ``python -m tad run --set ...`` would write (``"trust.schedule=static"``),
applied by :func:`tad.fields.apply_overrides`: the ablations of the grids
(:mod:`tad.reproduce`) and the candidate sets of the hyper-parameter selection
(:mod:`tad.selection`). Any one of them can be rerun by hand with the same ``--set`` options.
"""

from __future__ import annotations

Overrides = tuple[str, ...]

# Each ablation changes TAD in one respect; "full" is the main grid's TAD arm. Ablations of the
# mixture division alone (one global threshold, no evidence test) do nothing while the division is sized
# by the estimated noise rates; their rows, made when the mixture was the default, are in results/v4/.
ABLATIONS: dict[str, Overrides] = {
    "two-stage": ("trust.schedule=static", "recalib.enabled=false"),
    "outer-only": ("trust.lambda_cons=0.0", "recalib.enabled=false"),
    "outer+consistency": ("recalib.enabled=false",),
    "mahalanobis-only": ("recalib.reliability=mahalanobis",),
    "cosine-only": ("recalib.reliability=cosine",),
    # the division by the class-wise mixture and thresholds (the default before the sized division)
    "mixture-division": ("trust.sizing=mixture",),
    # the choices added against the easiness filter, each undone alone
    "fixed-start": ("trust.start_loss_drop=0.0",),
    "loss-average": ("trust.loss_ema=0.8",),
    # and the alternative use of the untrusted space (the default keeps them with soft targets)
    "drop-untrusted": ("trust.untrusted=drop",),
    "immature-recall": ("recalib.require_maturity=false",),
    # MTT and DATM match experts trained afresh on the final trusted space, not the dividing experts
    "retrained-trajectories": ("trust.trajectories=retrained",),
}

# Each set settles open choices of the outer loop on top of the defaults; sets run one after another,
# and the winner of a set becomes the default before the next set runs (results/<preset>-selection*.json).
CANDIDATE_SETS: dict[str, dict[str, Overrides]] = {
    # split a class only on evidence of noise; average each sample's loss over the divisions
    # (against confirmation bias) or judge the latest loss
    "outer": {
        f"evidence={'on' if evidence else 'off'},loss_ema={ema}": (
            f"trust.evidence={str(evidence).lower()}",
            f"trust.loss_ema={ema}",
        )
        for evidence in (True, False)
        for ema in (0.0, 0.8)
    },
    # score with an evaluation pass or from the training pass itself (cheaper)
    "scoring": {f"scoring={mode}": (f"trust.scoring={mode}",) for mode in ("pass", "online")},
    # drop the untrusted samples, or keep them with targets and DM weights set by their clean-probability
    "untrusted": {f"untrusted={mode}": (f"trust.untrusted={mode}",) for mode in ("drop", "soft")},
    # the evidence test's wrong-label level: ln C alone (None), or also a multiple of the loss of the
    # labels the model predicts (pair-flipped labels sit below ln C, but far above a right label's loss)
    "evidence": {
        f"evidence_ratio={ratio}": (f"trust.evidence_ratio={'none' if ratio is None else ratio}",)
        for ratio in (None, 2.0, 3.0)
    },
    # match the dividing experts' own trajectories, or those of experts trained afresh on their final
    # trusted space (MTT and DATM only: run it with --method datm)
    "trajectories": {f"trajectories={t}": (f"trust.trajectories={t}",) for t in ("dividing", "retrained")},
    # size each class's trusted space by the mixture's posterior and thresholds, or by each class's share
    # of wrong labels estimated from two plain experts (tad.noise_rate); a sized division's clean score
    # weighs every sample by its loss rank in its class, or trusted samples alike
    "sizing": {
        "sizing=mixture": ("trust.sizing=mixture",),
        **{
            f"sizing=estimated,score={score}": ("trust.sizing=estimated", f"trust.sized_score={score}")
            for score in ("rank", "flat")
        },
    },
    # correct the noise-rate estimate by the plain networks' agreement on their prediction, or on
    # their two most likely classes (pair-flip noise leaves them torn between two classes)
    "agreement": {f"agreement={top}": (f"trust.rate_agreement={top}",) for top in ("top1", "top2")},
    # the weight of the consistency term on the untrusted samples (the outer loop's regulariser): the
    # factorial diagnosis and the ablations put its cost under pair-flip noise near one point of DATM,
    # which only a choice on the noisy validation labels may act on
    "consistency": {f"lambda_cons={w:g}": (f"trust.lambda_cons={w:g}",) for w in (0.0, 1.0)},
    "snapshots": {
        "snapshots=1": ("trust.rate_snapshots=1",),
        **{
            f"snapshots=5,mean={mean}": ("trust.rate_snapshots=5", f"trust.rate_snapshot_mean={mean}")
            for mean in ("probabilities", "estimates")
        },
    },
}


__all__ = ["ABLATIONS", "CANDIDATE_SETS", "Overrides"]
