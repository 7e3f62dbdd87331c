"""The classic CIFAR-10 experiments (:mod:`.examples`), their options and the plugin that registers them."""
