"""Every extension point of minifc, documented in one place: the page a plugin author reads.

A plugin is a module (or any object) with functions named like the hooks below, marked with
``@minifc.hookimpl`` (also importable as ``from minifc.registry.hookspecs import hookimpl``). An installed
package declares it in the ``minifc.plugins`` entry-point group of its ``setup.cfg``::

    [options]
    install_requires = minifc>=0.4,<0.5

    [options.entry_points]
    minifc.plugins =
        myplugin = minifc_myplugin

and the module::

    from minifc import hookimpl

    @hookimpl
    def minifc_register_update_rules(register):
        register("nesterov", nesterov, description="Nesterov momentum")

Each ``minifc_register_*`` hook is called once, lazily, on the first lookup of a component, with a
``register(name, obj, **metadata)`` callback. minifc records which plugin (and which distribution and
version) registered each name; ``minifc plugins`` lists them and ``minifc check`` verifies them
numerically. Names are non-empty strings without ``:`` (it separates a name from its options in
specs such as ``"dropout:p=0.5"``). Metadata every kind understands:

- ``override=True``: replace a component already registered under that name (e.g. a built-in),
  on purpose. Without it, two different objects under one name is an error naming both providers
  (the same object registered twice is harmless).
- ``description="..."``: one line shown by ``minifc plugins``.
- ``check_kwargs={...}`` (layers) / ``check_config={...}`` (update rules, regularizers, schedules,
  callbacks, gradient transforms): the
  arguments ``minifc check`` uses, when the defaults are not enough to exercise the component.

A plugin that fails (import error, exception in a hook, a hook with unknown arguments, a component
with a wrong signature or metadata, a name clash) is skipped and reported once on stderr, naming its
distribution, entry point and error; minifc and the other plugins keep working. Environment:
``MINIFC_STRICT_PLUGINS=1`` raises instead, ``MINIFC_DISABLE_PLUGINS=a,b`` blocks plugins by
entry-point or distribution name, ``MINIFC_PLUGINS=a,b`` loads only those (built-ins always load).

The built-in components (linear, relu, linear_relu, dropout, svm, softmax, sgd, sgd_momentum,
rmsprop, adam, l2, the schedules constant, warmup_cosine, step and exponential, the callbacks
early_stopping, ema and tensorboard, the gradient transforms clip_norm and clip_value, the examples
two-layer, overfit, sgd-momentum, update-rules, dropout, the sweep presets overfit and two-layer, and the
compare presets update-rules and dropout) are
registered through these same hooks by ``minifc.registry.builtins``. An
implementation may take fewer arguments than its spec, so hooks can gain arguments without breaking
plugins. Nothing here uses autograd: every component computes its own gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "minifc"
ENTRY_POINT_GROUP = "minifc.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a plugin's implementation of one of the ``minifc_register_*`` hooks (also ``minifc.hookimpl``):
``@hookimpl def minifc_register_layers(register): register("leaky_relu", LeakyReLU)``."""

Register = Callable[..., None]


@hookspec
def minifc_register_layers(register: Register) -> None:
    """Register layer factories: ``register("batchnorm1d", BatchNorm1d)``.

    ``obj`` (usually a :class:`minifc.nn.Module` subclass; a class must be one) is called with
    keyword arguments and returns a Module with ``forward(x)`` (x (N, D) -> out (N, D')),
    ``backward(dout) -> dx`` (dout (N, D') -> dx (N, D), adding into each ``Parameter.grad`` with
    ``Parameter.accumulate``), ``parameters()`` and ``train()``/``eval()``; running statistics go in
    ``register_buffer``. Tensors it creates follow the input's dtype and device.

    :func:`minifc.builder.build_net` passes ``in_features=<width of the input>`` when the factory
    accepts it (and ``dtype``/``device`` when accepted); a layer that changes the width exposes
    ``out_features``. In specs, bare values fill the factory's other parameters in order:
    ``"linear:512"`` is ``Linear(in_features=..., out_features=512)``.

    ``minifc check`` builds it with ``in_features=6``, ``out_features=5`` (when accepted) plus
    ``check_kwargs``, in float64 and train mode (re-seeding torch's RNG before every forward, so a
    dropout-like layer draws the same mask), and compares dx and every parameter's gradient with
    centred differences; then the same in eval mode.
    """


@hookspec
def minifc_register_losses(register: Register) -> None:
    """Register losses: ``obj(scores, y) -> (loss, dscores)``.

    scores (N, C) floating point, y (N,) integer labels in [0, C); loss a 0-dim tensor averaged
    over N, dscores (N, C) its gradient (same dtype and device as scores). ``minifc check`` compares
    dscores with the numeric gradient of the loss.
    """


@hookspec
def minifc_register_update_rules(register: Register) -> None:
    """Register update rules: ``obj(w, dw, config=None) -> (next_w, config)``, the classic form.

    ``config`` holds hyper-parameters (missing ones take the rule's defaults) and per-parameter
    state; state tensors must be created like ``w``. Declare the rule with
    ``@minifc.optim.update_rule(defaults, state_keys, bounds)`` so that minifc rejects unknown
    ``optim_config`` keys and out-of-range values (naming the key) before training; the decorator
    returns a :class:`minifc.optim.UpdateRule`, still called as ``rule(w, dw, config)``. Its optional
    forms, assigned after it (``rule.foreach = my_foreach``): ``rule.foreach`` (many parameters at
    once), ``rule.fused`` (the same in one kernel; a Trainer's ``fused=True``) and ``rule.sink``
    (affine rules: formed inside a Linear's weight-gradient product; a Trainer's
    ``update_in_product=True``) let the Trainer choose a faster update with the same math;
    ``minifc check`` compares each with the rule. A plain function without these attributes works
    too, unchecked.

    ``bounds`` (here and for regularizers) follow one convention, :mod:`minifc.validate`'s: a pair
    ``(low, high)`` is the closed range ``low <= value <= high``; an excluded end is declared with
    ``minifc.validate.Interval(low, high, low_open=..., high_open=...)``, and ``below(1.0)`` is
    ``[0, 1)`` (a momentum, a beta). A number without a bound must be ``>= 0``; every value must be
    finite. The learning rate must be under the key
    ``learning_rate``. Update ``w`` in place and return it (as the classic sgd does).

    ``minifc check`` runs it for 100 steps on ``f(w) = 0.5 * ||w - target||^2`` with its defaults
    (or ``check_config``): w must keep its shape, dtype and device, state tensors must be created like
    w, and f must decrease.
    """


@hookspec
def minifc_register_regularizers(register: Register) -> None:
    """Register regularizers. Two forms, chosen by the ``stage`` metadata:

    - ``stage="loss"`` (default): ``obj(w, config) -> (penalty, dpenalty)``; the scalar penalty is
      added to the loss and dpenalty (w's shape) to dw before the update.
    - ``stage="update"``: ``obj(w, config) -> next_w``, applied after the update rule (max-norm
      constraints, decoupled weight decay). ``config`` also holds the current ``learning_rate``.

    ``applies_to="weights"`` (default: parameters with two or more dimensions) or ``"all"``.
    ``defaults={...}`` declares the hyper-parameters (so unknown keys are rejected and numbers must
    lie in ``bounds={key: (low, high)}``, closed as for update rules above, default ``>= 0``;
    default: the object's ``defaults`` attribute). A regularizer that declares no defaults takes any
    option, unchecked. Users name them as ``"l1"``, ``"l1:reg=1e-4"`` or ``{"name": "max_norm", "max_norm": 3.0}`` (see
    :func:`minifc.registry.specs.parse_spec`).

    ``minifc check`` compares dpenalty with the numeric gradient of the penalty (stage "loss") or
    checks that next_w keeps w's shape, dtype and device and is finite (stage "update"), with the
    defaults (zero-valued numbers set to 0.1) or ``check_config``.
    """


@hookspec
def minifc_register_schedules(register: Register) -> None:
    """Register learning-rate schedules: ``obj(**options) -> schedule``, a factory whose result is called
    as ``schedule(step, total_steps) -> factor`` (a finite number >= 0 multiplying the base learning rate;
    ``step`` counts from 0 over the whole run, ``total_steps = num_epochs * iterations_per_epoch``).

    The schedule must be a pure function of its arguments (a resumed run calls it again from the step
    it stopped at). A factory that accepts the keyword ``num_epochs`` is given the run's number of
    epochs, so an epoch-based schedule knows the epoch of a step: ``step // (total_steps // num_epochs)``.
    Options are declared by ``defaults={...}`` metadata (else the factory's keyword defaults) and
    ``bounds={key: (low, high)}`` (closed, as for update rules; default ``>= 0``); users name them as
    ``"step:step_size=2,gamma=0.5"`` (``Trainer(schedule=...)``, ``minifc train --schedule``, the
    configuration key ``schedule``).

    ``minifc check`` builds it with its defaults (or ``check_config``) and checks that every factor
    of a 10-epoch, 1,000-step run is a finite number > 0 and the same when asked twice.
    """


@hookspec
def minifc_register_callbacks(register: Register) -> None:
    """Register training callbacks: ``obj(**options) -> callback``, usually a
    :class:`minifc.training.callbacks.Callback` subclass. The callback's ``on_train_begin``,
    ``on_epoch_begin``, ``on_step_end``, ``on_epoch_end``, ``on_train_end``, ``on_evaluate_begin`` and
    ``on_evaluate_end`` methods (any of them) are called with the Trainer.

    Options are declared as for schedules (``defaults`` metadata, else the factory's keyword defaults;
    ``bounds``). Users name them as ``"early_stopping:patience=3"`` in ``Trainer(callbacks=[...])``,
    ``minifc train --callback`` (repeatable) and the configuration key ``callbacks``. A callback that
    raises stops the run with an error naming it and its plugin; the last checkpoint stays as it was.

    ``minifc check`` builds it with its defaults (or ``check_config``) and checks that every ``on_*``
    attribute it has is callable with the trainer.
    """


@hookspec
def minifc_register_gradient_transforms(register: Register) -> None:
    """Register gradient transforms: ``obj(**options) -> transform``, a factory (see :mod:`minifc.optim.transform`).

    The transform has ``init(params) -> state`` (or ``init(params, generator)`` to seed its own RNG from the
    Trainer's generator) and ``update(grads, state, params) -> (grads, state)``; grads and params map names to
    tensors, every grad shaped like its parameter (same dtype and device); returning ``None`` as grads skips
    the step's update. State: tensors and numbers, saved in checkpoints. Declare the factory with
    ``@minifc.optim.gradient_transform(defaults, bounds)`` (or pass ``defaults=`` / ``bounds=`` metadata):
    unknown options and out-of-range values are refused naming the transform. Users chain them in order:
    ``Trainer(gradient_transforms=["clip_norm:max_norm=1.0"])``, ``minifc train --grad-transform NAME[:k=v]``.

    The chain runs after the data-parallel reduction and the loss-stage regularizer gradients, before the
    update. ``minifc check`` builds it with its defaults (or ``check_config``) and checks, in float64 and
    float32, that finite gradients come back finite, with their shapes, dtype and device.
    """


@hookspec
def minifc_register_examples(register: Register) -> None:
    """Register examples run by ``minifc example NAME``: ``obj(data, options) -> summary``.

    ``data`` is the dict of :func:`minifc.data.load_cifar10` (``X_train`` (N, 3072) ... ``y_test``
    (N,)), ``options`` a :class:`minifc.experiments.example_options.ExampleOptions` (``out`` folder for plots,
    ``epochs``/``num_train`` (None: the example's own settings), ``device``, ``seed``, ``verbose``,
    ``extra``). The summary is a dict: ``rows`` (one dict per trained model, with ``name``,
    ``final_train_acc``, ``final_val_acc``, ``best_val_acc`` and ``seconds``; optionally
    ``test_acc`` and ``epochs``), ``plots`` (paths of the files written under ``options.out``) and
    optionally ``target`` (``(row key, threshold)`` the default settings should reach) and
    ``columns`` (``{row key: header}``: the summary table's columns, in order, and their headers). The
    ``description`` is what ``minifc example --help`` lists. ``budget=True`` says the example reads
    ``options.budget`` (``minifc example NAME --budget SECONDS``; the command refuses ``--budget``
    for an example registered without it). ``settings=("recipe", ...)`` names the top-level keys of
    ``options.extra`` it reads: ``--set`` of another key is refused naming it (``settings=()``: it takes
    none, like the classic examples; not given: any key passes, unchecked). Names use ``-`` between
    words (``two-layer``).
    ``minifc check`` does not run examples.
    """


@hookspec
def minifc_register_sweep_presets(register: Register) -> None:
    """Register ready-made sweeps run by ``minifc sweep --preset NAME``: ``obj(quick) -> settings``.

    ``settings`` is a dict with ``base`` (the ``minifc train`` keys every trial starts from), ``search``
    (``{key: "DIST(ARGS)"}``, e.g. ``{"lr": "loguniform(1e-4, 1e-1)", "update_rule.beta1": "uniform()"}``: see
    :mod:`minifc.sweeps.space`) and ``trials``, and optionally ``objective`` (``best_val_acc``,
    ``best_train_acc`` or ``time_to_val_acc`` with ``target``), ``pruner`` (none, median, hyperband) and
    ``runner`` (``train``, or ``example`` with ``base = {"example": NAME, "budget": SECONDS, ...}`` and
    ``--set`` keys as the search keys). ``quick=True`` (``minifc sweep --preset NAME --quick``) asks for a
    sweep of a few seconds on tiny settings. ``minifc check`` does not run presets.
    """


@hookspec
def minifc_register_compare_presets(register: Register) -> None:
    """Register ready-made comparisons run by ``minifc compare --preset NAME``: ``obj(quick) -> settings``.

    ``settings`` is a dict with ``candidates`` (specs such as ``"adam"``, ``"sgd_momentum:momentum=0.95"``,
    ``"dropout=0.5"``; the first is the baseline) and ``base`` (the ``minifc train`` keys they share), and
    optionally ``trials``, ``seeds``, ``lr_range`` (``[low, high]``), ``tune_options``, ``pruner`` and ``target``
    (see :class:`minifc.compare.settings.CompareSettings`). ``quick=True`` (``--quick``) asks for a comparison of
    seconds on tiny data (``base["data"] = minifc.compare.quick_data.QUICK_DATA``: synthetic images written into
    the compare folder). ``minifc check`` does not run presets.
    """


@hookspec
def minifc_register_commands(cli: Any) -> None:
    """Add subcommands to the ``minifc`` click group: ``@cli.command() def mycmd(): ...``.

    Called when the CLI lists or looks up a command that is not built in.
    """


def _public() -> dict[str, Any]:
    return {k: v for k, v in globals().items() if k.startswith("minifc_register_")}


HOOKS = _public()
