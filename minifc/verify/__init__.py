"""Checking components: a plugin's layers, rules and regularizers against the contract (:mod:`.checks`)
and every form of an update rule against the rule itself (:mod:`.check_forms`)."""
