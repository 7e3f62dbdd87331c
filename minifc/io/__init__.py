"""Files on disk: checkpoints (:mod:`.checkpoint`, :mod:`.classic_checkpoint`), run folders
(:mod:`.run_folder`, :mod:`.set_aside`, :mod:`.runs`), link-safe writes (:mod:`.safe_files`) and plots.

A subpackage, so ``import io`` (absolute) still names the standard library everywhere."""
