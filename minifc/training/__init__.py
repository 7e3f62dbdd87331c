"""The parts :class:`minifc.Trainer` wires together, one concept per module.

- :mod:`.inputs`: checking the data, its fit to the model, ``optim_config``, the update rule;
- :mod:`.sampler`: which rows each step sees (``shuffle``, ``subset``, ``replacement``);
- :mod:`.gradients`: the gradient-hook seam (nothing on one process);
- :mod:`.regularize`: regularizers from specs, and the regularize seam;
- :mod:`.grad_transforms`: the gradient-transform seam (clipping and more, before the update);
  :mod:`.transform_checks` checks their state in a checkpoint;
- :mod:`.update`: the update seam's strategies (per parameter, foreach, fused);
- :mod:`.first_step`: the contract checks of a run's first step;
- :mod:`.schedule`, :mod:`.divergence`, :mod:`.metrics`, :mod:`.snapshot`: learning-rate factors,
  what happens on divergence, accuracy, copies of the best parameters;
- :mod:`.run_state`: the run's progress as one :class:`~.run_state.TrainingState`, which the loop, the
  evaluation and the checkpoints receive (never the whole Trainer);
- :mod:`.options`: the Trainer's settings in groups (sampling, optimization, checkpoint, data-parallel, output);
- :mod:`.loop`: the epochs around the step (time limit, callbacks, the end of an epoch);
- :mod:`.state`: checkpoints (what they hold, how they are checked, saved and restored);
- :mod:`.data_parallel`: the Trainer as one rank of a data-parallel job.
"""
