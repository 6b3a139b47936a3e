"""A few-step student distilled from the teacher's deterministic sampler (issue 12).

The teacher's default sampler (DPM-Solver++(2M), 20 steps) is a deterministic map from the starting
noise ``x_T`` to a sample ``x_0``, given a series' conditioning: the ensemble's spread comes from
``x_T`` alone. A student that reproduces that map in 1-4 network calls reproduces the teacher's
ensembles, at a fraction of the cost.

Method (trajectory distillation, in the spirit of Luhman & Luhman 2021 and of progressive distillation,
Salimans & Ho 2022):

* The student's ``k``-step grid is a subset of the teacher's grid (:func:`~tsdiff.diffusion.distilled_grid`);
  for 20 teacher steps and ``k = 4`` it is the teacher's steps 0, 5, 10 and 15.
* Each training batch draws training windows, conditions them with the teacher's own
  :meth:`~tsdiff.model.TSDiffModel.condition` (the student shares the context encoder; only the denoiser
  is trained), draws ``x_T`` and runs the teacher's sampler, recording its states at the grid points.
* For every step ``t -> t_next`` of every trained step count, the student's DDIM step from the
  teacher's state at ``t`` must land on the teacher's state at ``t_next`` (its final sample when
  ``t_next = -1``). The loss is the squared miss, weighted by how much an error there moves the final
  sample (for data of spread ``s``, the flow from ``t_next`` to 0 scales errors by about
  ``s / sqrt(abar s^2 + 1 - abar)``).
* The student predicts ``v`` (Salimans & Ho's parameterization): its data prediction
  ``sqrt(abar) x_t - sqrt(1 - abar) v`` stays well conditioned at ``t = T``, where an eps prediction
  would be divided by ``sqrt(abar_T)`` (0.006 on the default schedule). It starts from the teacher's
  weights, where ``v`` is close to the teacher's ``eps`` at low noise, and sees the step it must reach
  through an extra embedding added to its FiLM vector (zero at initialization), so one network serves
  every trained step count.

Unlike round-by-round progressive distillation, the targets are the teacher's *default sampler*
itself (not a first-order DDIM teacher, which on the default schedule loses 5-30% of the spread at few
steps: ``docs/how_it_works.md``), every step count is trained at once, and no error compounds over
rounds.
"""

from __future__ import annotations

import copy
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor, nn

from .calibration import IntervalCalibrator
from .config import TSDiffConfig
from .diffusion import DDIMSampler, DistilledSampler, DPMSolverSampler, distilled_x0, sample_loop
from .nn import ConditionalDenoiser, SinusoidalEmbedding
from .nn.unet1d import StemShare
from .training import TrainResult

#: Step counts trained by default (``predict(sampler="distilled", steps=k)``).
DEFAULT_STUDENT_STEPS: tuple[int, ...] = (1, 2, 4)
#: Network calls of the distilled sampler when ``steps`` is not given (if trained; else the fewest trained).
#: Why 2: on m4_hourly, ett_small_1h and exchange_rate_nips (two teachers each, 4 sampling seeds) the 2-call
#: student is within 2% of the teacher's wQL (-0.8% to +1.6%) and 0.02 of its coverage but for one cell (m4_hourly cov90
#: +0.0205), while the 1- and 4-call students lose 2.4-3.7% wQL on m4_hourly (``distill.csv``, 0c27507). With the
#: 16-step tail (a3487eb, one teacher each) the 2-call student is again the only one within both bounds everywhere.
#: Those are one distillation seed each: two more seeds of the m4_hourly student (e062b09) give 2-call wQL +1.2% /
#: +3.3%, 1-call +5.6% / +4.9%, 4-call +0.9% / +5.1% (``docs/how_it_works.md``): 2 calls stay the most reliable.
#: At 4e7d9e4 (seven teachers of the three datasets) 1 and 2 calls each meet every bound on five, 4 calls on three;
#: where both miss, 2 calls miss by less on m4_hourly (cov90 +0.022 against +3.4% wQL and +0.027), by more on
#: exchange_rate_nips (+2.8% wQL against +2.3%).
DEFAULT_PREDICT_STEPS = 2

#: Default of the student's tail (``TSDiff(student_tail_length=None)``: at most this many positions, see
#: :func:`check_student_tail`). The U-Net's cost is proportional to its window: on m4_hourly (tail 48 + horizon
#: 48) a 32-step tail cuts it by a sixth, a 16-step one by a third. Why 32, not 16: students of one teacher differ
#: from one distillation seed to the next, and at tail 16 one of three m4_hourly 2-call students missed the
#: teacher's wQL by +3.3% (seeds 1 / 101 / 102: -1.6% / +1.2% / +3.3%, ``distill.csv``, a3487eb and e062b09);
#: with 16 more hours of history the same seeds gave -2.1% / -0.2% (e062b09) and +0.4% (a scratch run); seed 102
#: of another seed-1 teacher missed at tail 32 too (+3.2%, fefd4f4; its seed 1 gave -0.1%, 3669bf0): the seed's
#: spread is larger than the tail's effect, which was better or equal in each pair measured. The cost:
#: the 2-call tail-32 student's predict for the 414 series x 100 samples took 12.8 s in bf16 (15.3 s in float32),
#: 3.4x DeepAR's time in the same run (``sampling_speed.csv``, 4e7d9e4, 2 threads, an AVX-512 CPU), where the
#: tail-16 one took 11.4 s (4c80031). With no tail at all the m4_hourly student lost 5-7% wQL (one seed).
STUDENT_TAIL_LENGTH = 32

#: Typical spread of a forecast in scaled units, for the loss weights (see :func:`pair_weight`).
SPREAD = 0.3
#: The student's default parameterization: Salimans & Ho's ``v`` (``x0_hat = sqrt(abar) x_t - sqrt(1 - abar) v``).
PREDICTION = "v"
#: With ``prediction="eps"`` only: floor of the signal rate in the data prediction
#: ``(x_t - sqrt(1 - abar) out) / max(sqrt(abar), floor)``, the teacher's own parameterization where
#: ``sqrt(abar) >= floor`` (errors amplified at most ``1 / floor``-fold at high noise, where a plain eps
#: prediction would divide by ``sqrt(abar_T)``, 0.006 by default).
SIGNAL_FLOOR = 0.5  # the default of DistilledSampler


def pair_weight(a_next: float, b_next: float, spread: float = SPREAD) -> float:
    """Weight of a missed state at a step with ``sqrt(abar) = a_next``, ``sqrt(1 - abar) = b_next``.

    For data of std ``spread`` the probability-flow ODE from that step to 0 scales a small error in the
    state by ``spread / sqrt(a_next^2 spread^2 + b_next^2)``: the weight is its square, 1 on the final
    sample (``a_next = 1``, ``b_next = 0``).
    """
    return spread ** 2 / (a_next ** 2 * spread ** 2 + b_next ** 2)


def horizon_weights(x0: Tensor, floor: float = 0.25) -> Tensor:
    """Per-horizon-step loss weights ``mean(s) / s_h`` (clamped to ``[floor, 1 / floor]``, then to mean 1).

    ``s_h`` is the teacher's spread at step ``h``, pooled over the batch's windows (the std of each window's
    paths around their own mean): a miss moves the forecast's quantiles in proportion to the spread, so the
    first steps, where the teacher is sharpest, need the smallest misses. Pooled, not per window: with a few
    paths per window a per-window spread is too noisy to divide by.

    Shapes: x0 ``(N, R, H)`` (``R >= 2`` paths per window) -> ``(H,)``; ones when ``R < 2``.
    """
    _, R, H = x0.shape
    if R < 2:
        return torch.ones(H, dtype=x0.dtype, device=x0.device)
    s = x0.var(dim=1).mean(dim=0).sqrt()
    w = (s.mean() / s.clamp_min(1e-8)).clamp(floor, 1.0 / floor)
    return w / w.mean()


class StudentDenoiser(nn.Module):
    """The student: the teacher's :class:`~tsdiff.nn.ConditionalDenoiser` plus the target step.

    ``out = net(x_t, t | seq, emb)`` with ``MLP(Sinusoidal(t_next + 1))`` added to the FiLM vector; the
    MLP's last layer starts at zero, so a student initialized with :meth:`from_teacher` starts as the
    teacher's network (its output read as ``v``, or as a floored ``eps``: :func:`~tsdiff.diffusion.distilled_x0`).

    Parameters
    ----------
    net : ConditionalDenoiser
        The network (its architecture and, from :meth:`from_teacher`, its weights).
    signal_floor : float, optional
        ``prediction="eps"`` only (default :data:`SIGNAL_FLOOR`).
    prediction : {"v", "eps"}, optional
        How the output is read (default :data:`PREDICTION`).
    tail_cut : int, default 0
        Leading positions of the teacher's ``[tail | horizon]`` window the student does not see: it runs
        on the last ``W - tail_cut`` (a shorter tail, so cheaper calls; the U-Net is convolutional, so the
        teacher's weights apply to any width).

    Shapes
    ------
    x_t ``(B, H)``; t, t_next ``(B,)`` long or ``(1,)`` (``t_next = -1``: clean data); seq ``(B, C_seq, W)``
    or a :class:`~tsdiff.nn.unet1d.StemShare` from :meth:`precompute`; emb ``(G, D)`` -> v_hat ``(B, H)``.
    """

    def __init__(self, net: ConditionalDenoiser, signal_floor: Optional[float] = None,
                 prediction: Optional[str] = None, tail_cut: int = 0) -> None:
        super().__init__()
        self.net = net
        self.signal_floor = SIGNAL_FLOOR if signal_floor is None else float(signal_floor)
        self.prediction = PREDICTION if prediction is None else prediction
        if self.prediction not in ("v", "eps") or not 0.0 < self.signal_floor <= 1.0:
            raise ValueError(f"prediction must be 'v' or 'eps' and signal_floor in (0, 1], got {prediction!r}, "
                             f"{signal_floor!r}")
        if isinstance(tail_cut, bool) or not isinstance(tail_cut, numbers.Integral) or tail_cut < 0:
            raise ValueError(f"tail_cut must be an int >= 0, got {tail_cut!r}")
        self.tail_cut = int(tail_cut)
        dim = net.cond_dim
        self.target_embedding = SinusoidalEmbedding(dim)
        self.target_mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        nn.init.zeros_(self.target_mlp[2].weight)
        nn.init.zeros_(self.target_mlp[2].bias)

    @classmethod
    def from_config(cls, config: TSDiffConfig, seq_channels: int, **kwargs: Any) -> "StudentDenoiser":
        """An untrained student for a model of ``config`` (``seq_channels`` as in :class:`~tsdiff.model.TSDiffModel`;
        ``kwargs``: ``signal_floor``, ``prediction``, ``tail_cut``)."""
        c = config
        return cls(ConditionalDenoiser(seq_channels, cond_dim=c.embedding_dim, base_channels=c.hidden_channels,
                                       channel_mults=c.channel_mults, num_res_blocks=c.num_res_blocks,
                                       dropout=0.0, patch_size=c.patch_size), **kwargs)

    @classmethod
    def from_teacher(cls, teacher: ConditionalDenoiser, **kwargs: Any) -> "StudentDenoiser":
        """A student starting from a copy of the teacher's weights (dropout off; ``kwargs`` as in :meth:`from_config`)."""
        net = copy.deepcopy(teacher)
        for m in net.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.0
        return cls(net, **kwargs)

    def _cut(self, seq: Tensor) -> Tensor:
        """The window channels the student sees: ``(B, C_seq, W) -> (B, C_seq, W - tail_cut)``."""
        return seq[..., self.tail_cut:]

    def precompute(self, seq: Tensor) -> StemShare:
        """See :meth:`tsdiff.nn.ConditionalDenoiser.precompute` (on the student's part of the window)."""
        return self.net.precompute(self._cut(seq))

    def forward(self, x_t: Tensor, t: Tensor, t_next: Tensor, seq: Any, emb: Tensor) -> Tensor:
        """The output (``v``, or the floored ``eps``) at ``t`` for a jump to ``t_next``: ``(B, H)``
        (shapes in the class docstring)."""
        t_next = t_next.reshape(-1)
        extra = self.target_mlp(self.target_embedding(t_next + 1))
        if isinstance(seq, Tensor):
            seq = self._cut(seq)
        return self.net(x_t, t, seq, emb, extra=extra)

    def loss(self, batch: dict[str, Tensor], generator: Optional[torch.Generator] = None) -> Tensor:
        """Weighted squared miss of the teacher's states (a batch from :class:`TeacherTrajectories`).

        ``batch``: ``seq`` (N, C_seq, W), ``emb`` (N, D) per window; per row ``group`` (window index),
        ``z`` and ``target`` (R, H) the teacher's states at ``t`` and ``t_next``, ``t`` and ``t_next``
        (R,) long, and ``a_t``, ``b_t``, ``a_next``, ``b_next``, ``weight`` (R,).
        """
        g = batch["group"]
        v = self(batch["z"], batch["t"], batch["t_next"], batch["seq"][g], batch["emb"][g])
        z_next = jump(batch["z"], v, batch["a_t"][:, None], batch["b_t"][:, None],
                      batch["a_next"][:, None], batch["b_next"][:, None], self.signal_floor, self.prediction)
        miss = (z_next - batch["target"]).pow(2)
        if "step_weight" in batch:
            miss = miss * batch["step_weight"]
        miss = miss.mean(dim=1)
        return (batch["weight"] * miss).sum() / batch["weight"].sum()


def jump(z: Tensor, out: Tensor, a_t: Any, b_t: Any, a_next: Any, b_next: Any, floor: float,
         prediction: str = PREDICTION) -> Tensor:
    """The DDIM (eta 0) step ``z_t -> z_next`` with the student's data prediction ``x0``
    (:func:`~tsdiff.diffusion.distilled_x0`): ``z_next = a_next x0 + b_next (z - a_t x0) / b_t`` (``x0`` when
    ``b_next = 0``). Same arithmetic as :meth:`tsdiff.diffusion.DistilledSampler.step`, with per-row coefficients.

    Shapes: ``z``, ``out`` ``(R, H)``; ``a_t``, ``b_t``, ``a_next``, ``b_next`` ``(R, 1)`` (or scalars)
    -> ``(R, H)``.
    """
    x0 = distilled_x0(z, out, a_t, b_t, prediction, floor)
    # Song et al. 2021, Eq. 12 with sigma_t = 0, written per row.
    return a_next * x0 + (b_next / b_t) * (z - a_t * x0)


class StudentAtSteps(nn.Module):
    """A student on one grid as a plain denoiser ``(x_t, t, seq, emb) -> v_hat`` for :meth:`TSDiffModel.sample`.

    The target step of each ``t`` is looked up on the device (no host sync).
    """

    next_step: Tensor

    def __init__(self, student: StudentDenoiser, sampler: DistilledSampler) -> None:
        super().__init__()
        self.student = student
        T = sampler.schedule.num_steps
        table = torch.full((T,), -1, dtype=torch.long)
        for t in sampler.timesteps():
            table[t] = sampler.next_timestep(t)
        self.register_buffer("next_step", table.to(next(student.parameters()).device), persistent=False)

    def precompute(self, seq: Tensor) -> StemShare:
        return self.student.precompute(seq)

    def forward(self, x_t: Tensor, t: Tensor, seq: Any, emb: Tensor) -> Tensor:
        """x_t ``(B, H)``, t ``(1,)`` or ``(B,)`` on the grid, seq and emb as for the teacher -> ``(B, H)``."""
        t = t.reshape(-1)
        return self.student(x_t, t, self.next_step[t], seq, emb)


def _pairs(n: int, steps: Sequence[int]) -> list[tuple[int, int]]:
    """Unique ``(i, j)`` index pairs into the teacher's ``n`` states (``n`` = the final sample)."""
    out: list[tuple[int, int]] = []
    for k in steps:
        idx = [int(round(i * n / k)) for i in range(k)] + [n]
        for i, j in zip(idx[:-1], idx[1:]):
            if (i, j) not in out:
                out.append((i, j))
    return out


class TeacherTrajectories:
    """Training batches for the student: the teacher's sampler states at the student's grid points.

    Parameters
    ----------
    teacher : TSDiffModel
        In eval mode; its ``condition`` and ``denoiser`` are used, never trained.
    sampler : DPMSolverSampler or DDIMSampler (eta 0)
        The teacher's deterministic sampler (its grid is the students').
    steps : sequence of int
        Student step counts trained.
    draw_windows : callable ``() -> dict of np.ndarray``
        A batch of windows (as from :class:`tsdiff.windows.TrainWindowSampler`); future values are dropped.
    paths : int
        Starting noises per window.
    device : torch.device
    generator : torch.Generator
        Source of the starting noise (on ``device``).
    horizon_weighting : bool, default True
        Give each batch the per-step loss weights of :func:`horizon_weights` (``step_weight``).
    """

    def __init__(self, teacher: Any, sampler: Any, steps: Sequence[int], draw_windows: Callable[[], dict],
                 paths: int, device: torch.device, generator: torch.Generator, examples: Optional[int] = None,
                 reuse: int = 1, horizon_weighting: bool = True) -> None:
        if not isinstance(sampler, (DPMSolverSampler, DDIMSampler)) or getattr(sampler, "eta", 0.0) != 0.0:
            raise ValueError(f"distillation needs a deterministic teacher sampler (dpmsolver, or ddim with eta=0), "
                             f"got {sampler!r}")
        self.teacher, self.sampler, self.draw_windows = teacher, sampler, draw_windows
        self.paths, self.device, self.generator = int(paths), device, generator
        self.examples, self.reuse, self.horizon_weighting = examples, int(reuse), bool(horizon_weighting)
        self._queue: list[dict[str, Tensor]] = []
        self.grid = sampler.timesteps()
        n = len(self.grid)
        self.steps = tuple(steps)
        self.pairs = _pairs(n, steps)
        # The step count each pair trains (the first that has it): batches share examples out evenly by it.
        self._pair_k = [next(i for i, k in enumerate(self.steps) if pair in _pairs(n, (k,))) for pair in self.pairs]
        self.record = sorted({i for i, _ in self.pairs} | {j for _, j in self.pairs if j < n})
        s = sampler.schedule
        sq_ac = s.sqrt_alphas_cumprod.double().cpu()
        sq_1m = s.sqrt_one_minus_alphas_cumprod.double().cpu()

        def coef(i: int) -> tuple[int, float, float]:
            if i == n:
                return -1, 1.0, 0.0
            t = self.grid[i]
            return t, float(sq_ac[t]), float(sq_1m[t])

        self._coefs = [(coef(i), coef(j)) for i, j in self.pairs]

    @torch.no_grad()
    def __call__(self, step: int = 0) -> dict[str, Tensor]:
        """The next training batch: ``examples`` (row, student step) examples of one batch of teacher
        trajectories, an equal share for every trained step count, drawn anew when it is used up.

        Each step count's examples are passed over ``reuse`` times in a fresh order; the batch of
        trajectories serves as many updates as the step count with the fewest examples (one student step
        per row: the 1-step student) fills.
        """
        from .model import batch_to_tensors

        if not self._queue:
            raw = self.draw_windows()
            inputs = batch_to_tensors({k: v for k, v in raw.items() if k not in ("future_target", "future_observed")},
                                      self.device)
            full = self.from_inputs(inputs)
            kid = full.pop("k_index")
            pools = [torch.nonzero(kid == i).flatten() for i in range(len(self.steps))]
            # An equal share per step count, at most the smallest pool (few windows or paths per batch).
            per = max(1, min((self.examples or kid.numel()) // len(self.steps), min(len(p) for p in pools)))
            chunks = []
            for pool in pools:
                parts: list[Tensor] = []
                for _ in range(self.reuse):
                    order = torch.randperm(len(pool), generator=self.generator, device=self.generator.device)
                    parts += [p for p in pool[order.to(pool.device)].split(per) if len(p) == per]
                chunks.append(parts)
            for u in range(max(1, min(len(c) for c in chunks))):
                idx = torch.cat([c[u] for c in chunks if u < len(c)])
                self._queue.append({k: (v if k in ("seq", "emb", "step_weight") else v[idx]) for k, v in full.items()})
        return self._queue.pop(0)

    @torch.no_grad()
    def from_inputs(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """The batch for windows already as tensors (no future values)."""
        teacher = self.teacher
        cond, _, _ = teacher.condition(inputs)
        N, R, H = cond.emb.shape[0], self.paths, teacher.config.prediction_length
        net = teacher.denoiser
        shared = net.precompute(cond.seq) if hasattr(type(net), "precompute") and teacher.seq_channels > 0 else None
        seq = shared if shared is not None else cond.seq.repeat_interleave(R, dim=0)
        states: dict[int, Tensor] = {}

        def keep(i: int, t: int, x: Tensor) -> None:
            if i in self.record:
                states[i] = x

        def denoise(x_t: Tensor, t: Tensor) -> Tensor:
            return net(x_t, t[:1], seq, cond.emb)

        states[len(self.grid)] = sample_loop(denoise, (N * R, H), self.sampler, generator=self.generator,
                                             device=self.device, callback=keep)
        group = torch.arange(N, device=self.device).repeat_interleave(R)
        parts: dict[str, list[Tensor]] = {k: [] for k in ("z", "target", "t", "t_next", "a_t", "b_t", "a_next",
                                                           "b_next", "weight", "group", "k_index")}
        rows = N * R
        for (i, j), ((t, a_t, b_t), (t_next, a_n, b_n)), k_index in zip(self.pairs, self._coefs, self._pair_k):
            parts["z"].append(states[i])
            parts["target"].append(states[j])
            parts["group"].append(group)
            parts["k_index"].append(torch.full((rows,), k_index, dtype=torch.long, device=self.device))
            for key, value in (("t", t), ("t_next", t_next)):
                parts[key].append(torch.full((rows,), value, dtype=torch.long, device=self.device))
            for key, value in (("a_t", a_t), ("b_t", b_t), ("a_next", a_n), ("b_next", b_n),
                               ("weight", pair_weight(a_n, b_n))):
                parts[key].append(torch.full((rows,), value, dtype=torch.float32, device=self.device))
        batch = {k: torch.cat(v) for k, v in parts.items()}
        batch["seq"], batch["emb"] = cond.seq, cond.emb
        if self.horizon_weighting:
            batch["step_weight"] = horizon_weights(states[len(self.grid)].reshape(N, R, H))
        return batch


@dataclass
class DistilledStudent:
    """A trained student with its grid and its own calibration (kept apart from the teacher's).

    Attributes
    ----------
    module : StudentDenoiser
    teacher_grid : list of int, the teacher sampler's timesteps the student was distilled from
    steps : tuple of int, step counts it was trained for
    teacher : str, the teacher's sampler (its repr)
    calibrators : dict int -> IntervalCalibrator, per step count, fitted on the held-out windows
    train_result : TrainResult of the distillation
    seed : int or None, the distillation seed (``distill(seed=...)``; None for a student saved before it was kept)
    """

    module: StudentDenoiser
    teacher_grid: list[int]
    steps: tuple[int, ...]
    teacher: str
    calibrators: dict[int, IntervalCalibrator] = field(default_factory=dict)
    train_result: TrainResult = field(default_factory=TrainResult)
    signal_floor: float = SIGNAL_FLOOR
    prediction: str = PREDICTION
    seed: Optional[int] = None

    def sampler(self, schedule: Any, steps: Optional[int]) -> DistilledSampler:
        """The student's sampler for ``steps`` network calls (default: :data:`DEFAULT_PREDICT_STEPS` when
        trained, else the fewest trained)."""
        if steps is None:
            k = DEFAULT_PREDICT_STEPS if DEFAULT_PREDICT_STEPS in self.steps else min(self.steps)
        else:
            k = steps
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or int(k) not in self.steps:
            raise ValueError(f"the distilled student was trained for steps {list(self.steps)}, got steps={steps!r}; "
                             f"distil again with steps=... to add others, or pass sampler='dpmsolver' for the "
                             f"teacher")
        return DistilledSampler(schedule, self.teacher_grid, int(k), signal_floor=self.signal_floor,
                                prediction=self.prediction)

    def denoiser(self, sampler: DistilledSampler) -> StudentAtSteps:
        """The student as a plain denoiser on ``sampler``'s grid."""
        return StudentAtSteps(self.module, sampler).eval()

    # -- model file ----------------------------------------------------------
    def to_payload(self) -> dict[str, Any]:
        r = self.train_result
        return {"state_dict": {k: v.detach().cpu() for k, v in self.module.state_dict().items()},
                "teacher_grid": [int(v) for v in self.teacher_grid], "steps": [int(k) for k in self.steps],
                "teacher": self.teacher, "signal_floor": float(self.signal_floor), "prediction": self.prediction,
                "tail_cut": int(self.module.tail_cut), "seed": None if self.seed is None else int(self.seed),
                "calibration": {str(k): c.to_dict() for k, c in sorted(self.calibrators.items())},
                "train_result": {"steps": r.steps, "best_step": r.best_step, "best_val_loss": float(r.best_val_loss),
                                 "stopped_reason": r.stopped_reason, "elapsed": float(r.elapsed)}}

    @classmethod
    def from_payload(cls, payload: dict[str, Any], config: TSDiffConfig, seq_channels: int,
                     device: torch.device) -> "DistilledStudent":
        with torch.random.fork_rng(devices=[]):  # its init is overwritten: leave the global stream alone
            # tail_cut: format version 4; a version-3 student runs on the whole window.
            module = StudentDenoiser.from_config(config, seq_channels, signal_floor=float(payload["signal_floor"]),
                                                 prediction=str(payload["prediction"]),
                                                 tail_cut=int(payload.get("tail_cut", 0)))
        module.load_state_dict(payload["state_dict"])
        cals = {int(k): IntervalCalibrator.from_dict(v) for k, v in payload["calibration"].items()}
        return cls(module.to(device).eval(), [int(v) for v in payload["teacher_grid"]],
                   tuple(int(k) for k in payload["steps"]), str(payload["teacher"]), cals,
                   TrainResult(**payload["train_result"]), module.signal_floor, module.prediction,
                   None if payload.get("seed") is None else int(payload["seed"]))  # absent from older files


def check_student_tail(tail_length: Any, config: TSDiffConfig) -> int:
    """Validate a student's ``tail_length`` against the teacher's ``config``.

    Allowed: ``0 <= tail_length <= config.tail_length`` with the cut ``config.tail_length - tail_length`` a
    multiple of ``patch_size * 2 ** (len(channel_mults) - 1)``, so that the horizon keeps its place in the
    U-Net's patches and downsampling grid and the teacher's weights start from the same alignment.
    ``None`` gives the default: the longest allowed tail of at most :data:`STUDENT_TAIL_LENGTH` positions
    (the teacher's, when it is that short already).
    """
    full = config.tail_length
    multiple = config.patch_size * 2 ** (len(config.channel_mults) - 1)
    if tail_length is None:
        return full - -(-max(0, full - STUDENT_TAIL_LENGTH) // multiple) * multiple  # the cut rounded up
    if isinstance(tail_length, bool) or not isinstance(tail_length, numbers.Integral) \
            or not 0 <= tail_length <= full or (full - tail_length) % multiple:
        allowed = list(range(full % multiple, full + 1, multiple))
        raise ValueError(f"student_tail_length must be one of {allowed} (at most the model's tail_length {full}, "
                         f"a multiple of {multiple} positions shorter), got {tail_length!r}")
    return int(tail_length)


def check_student_steps(steps: Any, teacher_steps: int) -> tuple[int, ...]:
    """Validate a set of student step counts: sorted unique ints in ``[1, teacher_steps)``."""
    try:
        values = [steps] if isinstance(steps, int) and not isinstance(steps, bool) else list(steps)
    except TypeError:
        raise ValueError(f"steps must be an int or a sequence of ints, got {steps!r}") from None
    bad = [k for k in values if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < teacher_steps]
    if not values or bad:
        raise ValueError(f"student steps must be ints in [1, {teacher_steps - 1}] (fewer than the teacher's "
                         f"{teacher_steps} steps), got {steps!r}")
    return tuple(sorted(set(int(k) for k in values)))




#: Default training steps of :func:`distill`: see ``docs/how_it_works.md`` ("A few-step student").
DEFAULT_DISTILL_STEPS = 1000
#: Windows per batch of teacher trajectories, and starting noises per window (rows = their product). Many
#: windows, few paths each: on the 4000-step m4_hourly teacher, 64 x 2 (against 16 x 8, same rows and budget)
#: cut the held-out distillation loss 2.5-fold and the student's wQL gap from +25-32% to +8-15% on a 100-series
#: subset (``benchmarks/distill_probe.py``): the student was short of contexts, not of paths per context.
WINDOWS_PER_BATCH = 64
PATHS_PER_WINDOW = 2
#: (row, student step) examples per optimizer step, and passes over each batch of teacher trajectories.
EXAMPLES_PER_UPDATE = 96
REUSE = 2
#: Learning rate of the student (fine-tuning from the teacher's weights). 5e-4 was no better on the saved
#: teachers (m4_hourly +7.4 / +6.7 / +13.0% wQL against +7.6 / +5.2 / +6.7%: distill.csv, 40b38f1 vs 33d765c).
LEARNING_RATE = 2e-3
#: Share of each batch that is a series' latest context (the one ``predict`` forecasts from by default); the
#: rest end anywhere in the history (:class:`~tsdiff.windows.ContextSampler`).
LATEST_CONTEXT_SHARE = 0.5
#: Held-out windows whose teacher trajectories score the student's checkpoints.
VAL_WINDOWS = 32


def distill(teacher: Any, teacher_sampler: Any, window_sampler: Any, held: Any, cal: Any, *, seed: int,
            device: torch.device, max_steps: Optional[int] = None, max_time: Optional[float] = None,
            steps: Any = DEFAULT_STUDENT_STEPS, progress: bool = False, calibration_samples: int = 100,
            chunk_size: int = 1024, learning_rate: Optional[float] = None, windows_per_batch: Optional[int] = None,
            paths_per_window: Optional[int] = None, prediction: str = PREDICTION,
            tail_length: Optional[int] = None) -> DistilledStudent:
    """Distil ``teacher_sampler`` on ``teacher`` into a :class:`DistilledStudent`.

    Parameters
    ----------
    teacher : TSDiffModel
        The fitted model (eval mode); never changed.
    teacher_sampler : DPMSolverSampler or DDIMSampler with eta 0
    window_sampler : ContextSampler or TrainWindowSampler
        Windows to condition on (``sample(rng, n)``; future values, if any, are not used).
    held : held-out windows, with ``subset(rng, n)`` returning windows with ``inputs()`` (no future) and ``y``;
        or empty (``len(held) == 0``): no checkpoint choice (the last EMA weights are kept).
    cal : held-out windows (``inputs()`` and ``y``) to fit the student's calibration on, or None.
    seed : int
        Seeds the student's extra layer, the windows and the starting noises.
    max_steps, max_time : training budget (steps; a wall-clock cap) of the model-agnostic
        :class:`~tsdiff.training.Trainer`.
    steps : sequence of int, student step counts.
    progress : bool, show a progress bar.
    calibration_samples, chunk_size : int, as in :meth:`tsdiff.TSDiff.fit`.
    learning_rate, windows_per_batch, paths_per_window : optional
        Default :data:`LEARNING_RATE`, :data:`WINDOWS_PER_BATCH`, :data:`PATHS_PER_WINDOW`.
    prediction : {"v", "eps"}, default :data:`PREDICTION`
        The student's parameterization (``"eps"``: floored at :data:`SIGNAL_FLOOR`).
    tail_length : int, optional
        Context positions before the horizon that the student's U-Net sees (default: at most
        :data:`STUDENT_TAIL_LENGTH`); :func:`check_student_tail` gives the default and the allowed values.

    Returns
    -------
    DistilledStudent
    """
    import numpy as np

    from .errors import _check_positive_int
    from .model import batch_to_tensors
    from .training import Trainer

    teacher_grid = teacher_sampler.timesteps()
    steps = check_student_steps(steps, len(teacher_grid))
    tail_cut = teacher.config.tail_length - check_student_tail(tail_length, teacher.config)
    max_steps = DEFAULT_DISTILL_STEPS if max_steps is None else _check_positive_int("max_steps", max_steps)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # From the teacher's weights; a teacher of another kind (e.g. an exact denoiser in a test) gives the
        # architecture of its config, freshly initialized.
        student = (StudentDenoiser.from_teacher(teacher.denoiser, prediction=prediction, tail_cut=tail_cut)
                   if isinstance(teacher.denoiser, ConditionalDenoiser)
                   else StudentDenoiser.from_config(teacher.config, teacher.seq_channels, prediction=prediction,
                                                    tail_cut=tail_cut)
                   ).to(device)
    lr = LEARNING_RATE if learning_rate is None else float(learning_rate)
    n_windows = WINDOWS_PER_BATCH if windows_per_batch is None else _check_positive_int("windows_per_batch",
                                                                                       windows_per_batch)
    paths = PATHS_PER_WINDOW if paths_per_window is None else _check_positive_int("paths_per_window", paths_per_window)
    rng = np.random.default_rng([seed, 12])
    gen = torch.Generator(device=device).manual_seed(seed + 12)
    batches = TeacherTrajectories(teacher, teacher_sampler, steps, lambda: window_sampler.sample(rng, n_windows),
                                  paths, device, gen, examples=EXAMPLES_PER_UPDATE, reuse=REUSE)
    val_batches = []
    if len(held):
        val = held.subset(np.random.default_rng([seed, 13]), VAL_WINDOWS)
        val_gen = torch.Generator(device=device).manual_seed(seed + 13)
        val_batches = [TeacherTrajectories(teacher, teacher_sampler, steps, batches.draw_windows, paths,
                                           device, val_gen).from_inputs(batch_to_tensors(val.inputs(), device))]
    trainer = Trainer(student, batches, val_batches=val_batches, learning_rate=lr, weight_decay=0.0,
                      grad_clip=1.0, ema_decay=0.995, max_steps=max_steps, max_time=max_time,
                      val_every=max(1, min(100, max_steps // 5)), seed=seed + 12, device=device, progress=progress,
                      desc="tsdiff distill")
    result = trainer.fit()
    best = trainer.best_module().eval()
    out = DistilledStudent(best, teacher_grid, steps, repr(teacher_sampler), {}, result, best.signal_floor,
                           best.prediction, int(seed))
    if cal is not None and len(cal):
        inputs = batch_to_tensors(cal.inputs(), device)
        for k in steps:
            sampler = out.sampler(teacher_sampler.schedule, k)
            g = torch.Generator(device=device).manual_seed(seed + 2)
            samples = teacher.sample(inputs, calibration_samples, sampler, generator=g, chunk_size=chunk_size,
                                     denoiser=out.denoiser(sampler)).cpu().numpy()
            out.calibrators[k] = IntervalCalibrator.fit(samples, cal.y)
    return out


__all__ = ["DEFAULT_DISTILL_STEPS", "DEFAULT_PREDICT_STEPS", "DEFAULT_STUDENT_STEPS", "DistilledStudent",
           "LATEST_CONTEXT_SHARE", "STUDENT_TAIL_LENGTH", "StudentAtSteps", "StudentDenoiser", "TeacherTrajectories",
           "check_student_steps", "check_student_tail", "distill", "horizon_weights", "jump", "pair_weight"]
