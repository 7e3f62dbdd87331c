"""Averaging gradients over the ranks while the backward pass is still running.

Protocol of one training step (the step's gradient-hook seam)::

    reducer = GradReducer(model_parameters)          # once; every rank, same parameters, same order
    ...                                              # forward and loss
    for layer in reversed(layers):                   # the backward pass
        dout = layer.backward(dout)
        reducer.ready(layer.parameters())            # this layer's gradients are final
    reducer.finish()                                 # every p.grad now holds the mean over the ranks
    ...                                              # regularizers, update rule

``ready`` copies the gradients into their bucket (see :mod:`.buckets`) and, once a bucket is full,
launches its all-reduce asynchronously (``async_op=True``); buckets are launched strictly in bucket
order, so every rank issues the same collectives in the same order. Meanwhile the earlier layers'
backward runs. ``finish`` launches what is left, waits, divides by the world size (SUM then divide:
gloo has no AVG) and points each ``p.grad`` at its averaged slice. With ``reduce_dtype=torch.bfloat16`` a
bucket travels as a bfloat16 copy (half the traffic, what torch DDP's ``bf16_compress_hook`` does): the
sum is taken in bfloat16, then written back into the float32 bucket and divided there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ..nn.modules import Parameter
from .buckets import Bucket, plan_buckets
from .collectives import check_same_on_all_ranks
from .errors import DistributedError
from .rank import get_rank, lost_ranks, require_process_group

__all__ = ["DEFAULT_BUCKET_CAP_MB", "ReducerStats", "GradReducer"]

DEFAULT_BUCKET_CAP_MB = 25.0


@dataclass
class ReducerStats:
    """Time spent in :meth:`GradReducer.finish`, in seconds, over ``steps`` steps.

    ``wait_s``: blocked waiting for all-reduces to complete (communication not hidden behind the
    backward pass); ``finish_s``: the whole of finish (waiting, launching what was left, dividing).
    ``last_*``: the most recent step. On CUDA (nccl) waiting only orders the GPU streams, so
    ``wait_s`` is the CPU's blocked time, near 0; the step's throughput tells the real cost there.
    """

    steps: int = 0
    wait_s: float = 0.0
    finish_s: float = 0.0
    last_wait_s: float = 0.0
    last_finish_s: float = 0.0


def _named_parameters(params: Sequence[Parameter] | Mapping[str, Parameter]) -> list[tuple[str, Parameter]]:
    pairs = (
        list(params.items())
        if isinstance(params, Mapping)
        else [(p.name if isinstance(p, Parameter) else "", p) for p in params]
    )
    seen: dict[int, str] = {}
    named = []
    for i, (name, p) in enumerate(pairs):
        name = name or f"parameter[{i}]"
        if not isinstance(p, Parameter):
            raise TypeError(f"GradReducer: {name} is a {type(p).__name__}, not a minifc.nn.Parameter")
        if not p.data.is_floating_point():
            raise TypeError(f"GradReducer: parameter {name!r} has dtype {p.data.dtype}; gradients need floating point")
        if id(p) in seen:
            raise ValueError(f"GradReducer: parameter {name!r} is given twice (also as {seen[id(p)]!r})")
        seen[id(p)] = name
        named.append((name, p))
    # Parameter.name is the attribute name ("weight"): qualify repeated names by position
    counts: dict[str, int] = {}
    for name, _ in named:
        counts[name] = counts.get(name, 0) + 1
    return [(f"{name}[{i}]" if counts[name] > 1 else name, p) for i, (name, p) in enumerate(named)]


class GradReducer:
    """Bucketed, overlapped all-reduce of the gradients of ``params`` (forward order) over ``group``.

    ``params``: a list of Parameters (``net.parameters()``) or a mapping name -> Parameter (the names
    appear in errors). ``bucket_cap_mb``: a bucket closes at this size (MiB); smaller buckets start
    communicating earlier, larger ones need fewer collectives. ``overlap=False`` does all the work in
    :meth:`finish` (the same result; for comparisons). Construction compares the bucket plan across
    ranks (one small all-gather) and raises :class:`DistributedError` when the ranks' models differ.

    After :meth:`finish`, each ``p.grad`` is a view into the reducer's bucket, shaped and laid out like
    ``p.data``; it stays valid until the next step's :meth:`ready`/:meth:`finish` refills the bucket
    (clone it to keep it longer). ``reduce_dtype``: None (the gradients' own dtype) or the dtype the
    all-reduce sums in (``torch.bfloat16``: half the traffic of float32, a relative error of about 4e-3).
    """

    def __init__(
        self,
        params: Sequence[Parameter] | Mapping[str, Parameter],
        group: Any = None,
        bucket_cap_mb: float = DEFAULT_BUCKET_CAP_MB,
        overlap: bool = True,
        reduce_dtype: torch.dtype | None = None,
    ) -> None:
        require_process_group("GradReducer")
        if reduce_dtype is not None and not (isinstance(reduce_dtype, torch.dtype) and reduce_dtype.is_floating_point):
            raise ValueError(f"GradReducer: reduce_dtype must be a floating-point torch.dtype, got {reduce_dtype!r}")
        self.reduce_dtype = reduce_dtype
        if (
            isinstance(bucket_cap_mb, bool)
            or not isinstance(bucket_cap_mb, (int, float))
            or not (math.isfinite(bucket_cap_mb) and bucket_cap_mb > 0)
        ):
            raise ValueError(f"GradReducer: bucket_cap_mb must be a finite number > 0, got {bucket_cap_mb!r}")
        self.named = _named_parameters(params)
        if not self.named:
            raise ValueError("GradReducer: no parameters to reduce")
        self.group = group
        self.world_size = dist.get_world_size(group)
        self.rank = get_rank(group)
        self.overlap = bool(overlap)
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.buckets: list[Bucket] = plan_buckets(self.named[::-1], int(bucket_cap_mb * 2**20))
        self._where = {id(s.param): (b, i) for b in self.buckets for i, s in enumerate(b.slots)}
        self._handles: list[tuple[Bucket, Any, torch.Tensor]] = []
        self.stats = ReducerStats()
        plan = "\n".join(b.describe() for b in self.buckets)
        check_same_on_all_ranks(plan, "the gradient buckets (parameter names, shapes, layouts)", group)

    # -- during the backward pass --------------------------------------------------------------
    def ready(self, params: Iterable[Parameter]) -> None:
        """The gradients of ``params`` are final for this step: copy them into their buckets and launch
        the all-reduce of every bucket that is now complete (in bucket order).

        A parameter whose ``grad`` is None is skipped here (:meth:`finish` names it).
        """
        if not self.overlap:
            return
        for p in params:
            where = self._where.get(id(p))
            if where is None:
                raise DistributedError(
                    f"GradReducer.ready: {p!r} is not one of the parameters this reducer was built with"
                )
            bucket, i = where
            if self._launched(bucket):
                raise DistributedError(
                    f"GradReducer.ready: the gradient of {bucket.slots[i].name!r} arrived after its bucket's "
                    "all-reduce started; a parameter used by several layers must be reported after its last use"
                )
            if p.grad is not None:
                bucket.fill(i, p.grad)
        self._launch_complete()

    @property
    def launched_buckets(self) -> int:
        """How many buckets' all-reduces this step has started so far (they start in bucket order)."""
        return len(self._handles)

    def _launched(self, bucket: Bucket) -> bool:
        return bucket.index < len(self._handles)

    def _launch_complete(self) -> None:
        while len(self._handles) < len(self.buckets) and self.buckets[len(self._handles)].complete:
            self._launch(self.buckets[len(self._handles)])

    def _launch(self, bucket: Bucket) -> None:
        sent = bucket.tensor()
        if self.reduce_dtype is not None and sent.dtype != self.reduce_dtype:
            sent = sent.to(self.reduce_dtype)
        try:
            handle = dist.all_reduce(sent, op=dist.ReduceOp.SUM, group=self.group, async_op=True)
        except RuntimeError as e:
            self._abort()
            raise self._failure(bucket, "starting", e) from e
        self._handles.append((bucket, handle, sent))

    # -- after the backward pass ---------------------------------------------------------------
    def finish(self) -> None:
        """Reduce what is left, wait for every bucket and set each ``p.grad`` to the mean over the ranks.

        Raises :class:`DistributedError` naming the parameters without a gradient (every rank must
        reduce the same set), or when a collective fails (another rank stopped or timed out).
        """
        start = time.perf_counter()
        missing = [name for name, p in self.named if p.grad is None]
        if missing:
            self._abort()
            raise DistributedError(
                f"GradReducer.finish: no gradient for parameter(s) {missing} on rank {self.rank}; every rank must "
                "reduce every parameter (a layer that applied a fused update leaves no gradient: turn fusion off)"
            )
        for bucket in self.buckets[len(self._handles) :]:
            for i, slot in enumerate(bucket.slots):
                grad = slot.param.grad
                if not bucket.is_filled(i) and grad is not None:  # every grad is set: checked above
                    bucket.fill(i, grad)
        self._launch_complete()
        waited = 0.0
        for bucket, handle, sent in self._handles:
            t = time.perf_counter()
            try:
                handle.wait()
            except RuntimeError as e:
                self._abort()
                raise self._failure(bucket, "waiting for", e) from e
            waited += time.perf_counter() - t
            whole = bucket.tensor()
            if sent is not whole:
                whole.copy_(sent)
            whole.div_(self.world_size)
            for i, slot in enumerate(bucket.slots):
                slot.param.grad = bucket.view(i)
        self._abort()  # the step is over: forget fills and handles
        s = self.stats
        s.steps += 1
        s.last_wait_s, s.last_finish_s = waited, time.perf_counter() - start
        s.wait_s += s.last_wait_s
        s.finish_s += s.last_finish_s

    def reset_stats(self) -> None:
        self.stats = ReducerStats()

    def _abort(self) -> None:
        self._handles = []
        for bucket in self.buckets:
            bucket.reset()

    def _failure(self, bucket: Bucket, doing: str, e: Exception) -> DistributedError:
        return DistributedError(
            f"rank {self.rank}: {doing} the all-reduce of gradient bucket {bucket.index} ({', '.join(bucket.names())}) "
            f"failed; another rank probably stopped or timed out: {lost_ranks(self.rank, self.world_size)}: {e}"
        )

    def __repr__(self) -> str:
        sizes = ", ".join(f"{b.nbytes / 2**20:.2f}" for b in self.buckets)
        return (
            f"GradReducer({len(self.named)} parameters, buckets [{sizes}] MiB, overlap={self.overlap}, "
            f"world_size={self.world_size})"
        )
