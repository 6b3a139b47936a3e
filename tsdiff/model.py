"""`TSDiffModel`: the conditional diffusion forecaster as a pure torch module.

It owns the diffusion schedule, the context encoder and the denoiser, and
turns a batch of windows (see ``docs/architecture.md``) into

- ``loss(batch)``: L_simple = E||eps - eps_theta(x_t, t | history)||^2 over
  observed future points (Ho et al. 2020, eq. 14);
- ``sample(batch, n_samples, sampler)``: sample paths in original units.

The history is encoded once per series (:meth:`condition`): the context
encoder reads the whole context window, and the lag channels, the recent
tail, time features and covariates are laid out over the short
``[tail | horizon]`` window the denoiser runs on. Every diffusion step and
every sample reuses that conditioning, so one denoising step costs the same
for any ``context_length``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .config import TSDiffConfig
from .diffusion import DiffusionSchedule, sample_loop
from .nn import ConditionalDenoiser, Conditioning, ContextEncoder
from .scaling import floored_scale, signed_log_level, std_scale
from .scaling import scale as apply_scaling

TensorBatch = dict[str, Tensor]


def batch_to_tensors(batch: dict[str, np.ndarray], device: torch.device | str) -> TensorBatch:
    """Numpy batch (from :mod:`tsdiff.windows`) to tensors on ``device``."""
    return {k: torch.as_tensor(v).to(device) for k, v in batch.items()}


class TSDiffModel(nn.Module):
    """Conditional DDPM forecaster (schedule + context encoder + denoiser).

    Parameters
    ----------
    config : TSDiffConfig
    """

    def __init__(self, config: TSDiffConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        n_lags = len(c.lags)
        F, K, P = c.num_time_features, c.num_known_covariates, c.num_past_covariates
        self.schedule = DiffusionSchedule.from_config(c)
        # Encoder channels: scaled target, observed mask, time features, known and past covariates.
        self.encoder = ContextEncoder(2 + F + K + P, hidden=c.encoder_channels, out_dim=c.embedding_dim,
                                      static_cardinalities=c.static_cardinalities,
                                      num_static_real=c.num_static_real, with_level=c.level_input)
        # Denoiser sequence channels: tail values + mask, (lag value, lag mask) per lag, time features, known
        # covariates, and (horizon_mask) the observed-horizon mask.
        self.seq_channels = 2 + 2 * n_lags + F + K + int(c.horizon_mask)
        self.denoiser = ConditionalDenoiser(self.seq_channels, cond_dim=c.embedding_dim,
                                            base_channels=c.hidden_channels, channel_mults=c.channel_mults,
                                            num_res_blocks=c.num_res_blocks, dropout=c.dropout,
                                            patch_size=c.patch_size)
        # For window position p (relative time r = p - L), lag l reads context index C + r - l.
        L, H, C = c.tail_length, c.prediction_length, c.context_length
        rel = torch.arange(-L, H)
        if n_lags:
            idx = C + rel[None, :] - torch.tensor(c.lags)[:, None]  # (n_lags, W)
        else:
            idx = torch.zeros(0, L + H, dtype=torch.long)
        valid = (idx >= 0) & (idx < C)
        self.register_buffer("lag_index", idx.clamp(0, C - 1), persistent=False)
        self.register_buffer("lag_valid", valid.float(), persistent=False)

    # -- conditioning --------------------------------------------------------
    def _scale_covariates(self, past: Tensor, future: Optional[Tensor],
                          valid: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        """Standardize each covariate per series on the context: (B, C, K) -> (B, C, K).

        ``valid`` (B, C) marks the context points that enter the statistics
        (not left padding); covariates are zeroed where it is 0.
        """
        B, C, K = past.shape
        flat = past.permute(0, 2, 1).reshape(B * K, C)
        mask = valid.repeat_interleave(K, dim=0)
        scaled, loc, scale = std_scale(flat, mask)
        past_s = scaled.reshape(B, K, C).permute(0, 2, 1)
        if future is None:
            return past_s, None
        loc, scale = loc.reshape(B, 1, K), scale.reshape(B, 1, K)
        return past_s, (future - loc) / scale

    def condition(self, batch: TensorBatch) -> tuple[Conditioning, Tensor, Tensor]:
        """Encode the history of each series once.

        Parameters
        ----------
        batch : dict of tensors
            ``past_target``, ``past_observed`` (B, C); ``past_time_feat`` (B, C, F);
            ``future_time_feat`` (B, H, F); optional covariates and static features;
            optional ``scale_floor`` (B, 1) (read when ``config.scale_floor > 0``) and
            ``future_observed`` (B, H) (the horizon mask channel when ``config.horizon_mask``;
            all ones when absent).

        Returns
        -------
        cond : Conditioning with ``seq`` (B, seq_channels, W) and ``emb`` (B, embedding_dim)
        loc, scale : (B, 1) per-series scaling of the target (from the context only)
        """
        c = self.config
        L, H = c.tail_length, c.prediction_length
        past, observed = batch["past_target"], batch["past_observed"]
        B = past.shape[0]
        if c.scale_floor > 0:
            floor = batch.get("scale_floor")
            if floor is None:
                floor = past.new_zeros(B, 1)
            past_scaled, loc, scale = floored_scale(c.scaling, past, observed, floor)
        else:  # version-1 models
            past_scaled, loc, scale = apply_scaling(c.scaling, past, observed)

        enc_parts = [past_scaled[:, None, :], observed[:, None, :]]
        seq_parts = []
        zeros_h = past.new_zeros(B, 1, H)
        seq_parts.append(torch.cat([past_scaled[:, None, -L:], zeros_h], dim=2))
        seq_parts.append(torch.cat([observed[:, None, -L:], zeros_h], dim=2))
        if self.lag_index.shape[0]:
            lag_vals = past_scaled[:, self.lag_index] * self.lag_valid        # (B, n_lags, W)
            lag_mask = observed[:, self.lag_index] * self.lag_valid
            seq_parts += [lag_vals, lag_mask]
        if c.num_time_features:
            ptf, ftf = batch["past_time_feat"], batch["future_time_feat"]
            enc_parts.append(ptf.transpose(1, 2))
            seq_parts.append(torch.cat([ptf[:, -L:], ftf], dim=1).transpose(1, 2))
        # Covariate statistics skip the left padding only: from the first observed point on, a
        # covariate is a real value even where the target is missing.
        cov_valid = (observed.cumsum(dim=1) > 0).to(observed.dtype)
        if c.num_known_covariates:
            pk, fk = self._scale_covariates(batch["past_known_cov"], batch["future_known_cov"], cov_valid)
            enc_parts.append(pk.transpose(1, 2))
            seq_parts.append(torch.cat([pk[:, -L:], fk], dim=1).transpose(1, 2))
        if c.num_past_covariates:
            pp, _ = self._scale_covariates(batch["past_past_cov"], None, cov_valid)
            enc_parts.append(pp.transpose(1, 2))
        if c.horizon_mask:
            # 1 on observed horizon points in training (missing future targets are zero-filled in x0 and
            # must not be read as data); 1 everywhere when sampling (no future_observed in the batch).
            fut_obs = batch.get("future_observed")
            fut_obs = past.new_ones(B, H) if fut_obs is None else fut_obs.to(past.dtype)
            seq_parts.append(torch.cat([past.new_zeros(B, 1, L), fut_obs[:, None, :]], dim=2))
        level = signed_log_level(past, observed, scale) if c.level_input else None
        # log(scale) tells the encoder the series' magnitude, which scaling removed.
        log_scale = torch.log(scale.abs().clamp_min(1e-12))
        emb = self.encoder(torch.cat(enc_parts, dim=1), static_cat=batch.get("static_cat"),
                           static_real=batch.get("static_real"), log_scale=log_scale, level=level)
        return Conditioning(seq=torch.cat(seq_parts, dim=1), emb=emb), loc, scale

    # -- training ------------------------------------------------------------
    def loss(self, batch: TensorBatch, generator: Optional[torch.Generator] = None) -> Tensor:
        """L_simple over observed future points of a training batch (scalar)."""
        cond, loc, scale = self.condition(batch)
        x0 = (batch["future_target"] - loc) / scale
        observed = batch["future_observed"]
        x0 = torch.where(observed > 0, x0, torch.zeros_like(x0))
        B = x0.shape[0]
        t = torch.randint(0, self.schedule.num_steps, (B,), generator=generator, device=x0.device)
        eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        x_t = self.schedule.q_sample(x0, t, eps)
        eps_hat = self.denoiser(x_t, t, cond.seq, cond.emb)
        return self.schedule.l_simple(eps, eps_hat, observed)

    # -- sampling ------------------------------------------------------------
    @torch.no_grad()
    def sample(self, batch: TensorBatch, n_samples: int, sampler: object,
               generator: Optional[torch.Generator] = None, chunk_size: int = 4096,
               callback: Optional[Callable[[int, int, Tensor], None]] = None,
               autocast_dtype: Optional[torch.dtype] = None,
               denoiser: Optional[Callable[..., Tensor]] = None, workers: int = 1,
               chunk_seeds: Optional[Sequence[Sequence[int]]] = None) -> Tensor:
        """Draw ``n_samples`` paths per series, in the original units.

        Series are processed in chunks of at most ``chunk_size`` rows
        (series x samples); each chunk of series is encoded once and its
        conditioning repeated across its samples, so peak memory is bounded by
        ``chunk_size`` (times ``workers``) whatever ``n_samples`` is (beyond the
        output itself).

        Every chunk draws its noise from its own generator, seeded in chunk
        order from ``generator``, so the samples depend on ``generator`` and
        ``chunk_size`` but not on ``workers``: with ``workers > 1`` chunks run
        concurrently in that many threads, each with one torch intra-op
        thread (on a small CPU, faster than one chunk at a time with several
        intra-op threads for this network's small convolutions).

        ``autocast_dtype`` (e.g. ``torch.bfloat16``) runs the denoiser under
        ``torch.autocast``; the diffusion arithmetic (schedule, noise, x_t)
        stays in float32. ``denoiser`` replaces ``self.denoiser`` (e.g. a
        ``torch.compile``-d copy, or a distilled student with its
        :class:`~tsdiff.diffusion.DistilledSampler`). When the denoiser's class
        has ``precompute`` (as :class:`~tsdiff.nn.ConditionalDenoiser`), the
        conditioning channels' share of its first convolution is computed once
        per series, not at every step and sample path.

        ``chunk_seeds[i][j]``, when given, is the noise seed of series chunk
        ``i`` (``max(1, chunk_size // n_samples)`` series each) and sample chunk
        ``j`` (``min(n_samples, chunk_size)`` samples each) instead of a draw
        from ``generator``: the caller can then key seeds to the chunks' place
        in a larger set of series (see ``TSDiff.predict_iter``).

        Returns
        -------
        Tensor, shape (B, n_samples, prediction_length)
        """
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        net = self.denoiser if denoiser is None else denoiser
        # A compiled denoiser (torch.compile) keeps its plain call: its class has no precompute.
        precompute = hasattr(type(net), "precompute") and self.seq_channels > 0
        H = self.config.prediction_length
        B = batch["past_target"].shape[0]
        device = batch["past_target"].device
        out = torch.empty(B, n_samples, H, device=device)
        series_per_chunk = max(1, chunk_size // n_samples)
        sample_chunk = min(n_samples, chunk_size)
        series_chunks = [(s0, min(B, s0 + series_per_chunk)) for s0 in range(0, B, series_per_chunk)]
        sample_chunks = [(j0, min(n_samples, j0 + sample_chunk)) for j0 in range(0, n_samples, sample_chunk)]
        # One seed per (series chunk, sample chunk), drawn in order: the result does not depend on
        # the order in which chunks run.
        if chunk_seeds is None:
            seeds = torch.randint(0, 2**62, (len(series_chunks), len(sample_chunks)), generator=generator,
                                  device=generator.device if generator is not None else "cpu").tolist()
        else:
            seeds = [[int(v) for v in row] for row in chunk_seeds]
            if len(seeds) != len(series_chunks) or any(len(r) != len(sample_chunks) for r in seeds):
                raise ValueError(f"chunk_seeds must be {len(series_chunks)} x {len(sample_chunks)} "
                                 "(series chunks x sample chunks)")

        def run(i: int) -> None:
            s0, s1 = series_chunks[i]
            # Sampling never reads the future, even when the batch carries it (e.g. validation windows).
            sub = {k: v[s0:s1] for k, v in batch.items() if k not in ("future_target", "future_observed")}
            cond, loc, scale = self.condition(sub)
            # The conditioning channels' share of the first convolution, once per series (not per
            # sample path and step), when the network offers it; else the channels are repeated per row.
            shared = net.precompute(cond.seq) if precompute else None
            for (j0, j1), seed in zip(sample_chunks, seeds[i]):
                # The embedding stays one row per series: the denoiser broadcasts it over the series'
                # sample paths (FiLM computed once per series).
                seq = shared if shared is not None else cond.seq.repeat_interleave(j1 - j0, dim=0)

                def denoise(x_t: Tensor, t: Tensor, seq: object = seq, emb: Tensor = cond.emb) -> Tensor:
                    t = t[:1]  # sample_loop advances every row to the same step
                    if autocast_dtype is None:
                        return net(x_t, t, seq, emb)
                    with torch.autocast(device_type=device.type, dtype=autocast_dtype):
                        return net(x_t, t, seq, emb).float()

                chunk_gen = torch.Generator(device=device).manual_seed(seed)
                x0 = sample_loop(denoise, ((s1 - s0) * (j1 - j0), H), sampler, generator=chunk_gen,
                                 device=device, callback=callback)
                out[s0:s1, j0:j1] = x0.view(s1 - s0, j1 - j0, H) * scale[:, None, :] + loc[:, None, :]

        if workers == 1 or len(series_chunks) == 1:
            for i in range(len(series_chunks)):
                run(i)
            return out
        previous = torch.get_num_threads()

        def run_single_threaded(i: int) -> None:
            torch.set_num_threads(1)  # per worker thread: the workers share the cores
            with torch.no_grad():     # grad mode is thread-local
                run(i)

        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(run_single_threaded, range(len(series_chunks))))
        finally:
            torch.set_num_threads(previous)
        return out

    @torch.no_grad()
    def reverse_trajectory(self, batch: TensorBatch, n_samples: int, sampler: object, *,
                           generator: Optional[torch.Generator] = None,
                           record: Optional[set[int]] = None,
                           denoiser: Optional[Callable[..., Tensor]] = None) -> tuple[Tensor, list[int]]:
        """Follow the reverse diffusion of ONE series from x_T (pure noise) to x_0, recording states.

        Parameters
        ----------
        batch : dict of Tensor
            One series (batch size 1), as for :meth:`sample`.
        n_samples : int
            Sample paths to follow.
        sampler : DDPMSampler, DDIMSampler, DPMSolverSampler or DistilledSampler
        generator : torch.Generator, optional
            Source of the noise (one stream for all paths).
        record : set of int, optional
            Indices ``i`` into ``sampler.timesteps()`` whose state x_t is recorded (default none).
        denoiser : callable, optional
            Replaces ``self.denoiser`` (e.g. a distilled student on the sampler's grid).

        Returns
        -------
        states : Tensor, shape (n_recorded + 1, n_samples, prediction_length), on the CPU
            The recorded x_t in order, then the final x_0, all in original units (x * scale + loc).
        steps : list of int
            Diffusion step of each state (``-1`` marks the final x_0).
        """
        keep = set() if record is None else record
        device = batch["past_target"].device
        states: list[Tensor] = []
        steps: list[int] = []
        cond, loc, scale = self.condition(batch)
        rows = cond.repeat_interleave(n_samples)

        def callback(i: int, t: int, x_t: Tensor) -> None:
            if i in keep:
                states.append((x_t * scale + loc).cpu())
                steps.append(int(t))

        net = self.denoiser if denoiser is None else denoiser
        x0 = sample_loop(lambda x_t, t: net(x_t, t, rows.seq, rows.emb),
                         (n_samples, self.config.prediction_length), sampler, generator=generator,
                         device=device, callback=callback)
        states.append((x0 * scale + loc).cpu())
        steps.append(-1)
        return torch.stack(states), steps
