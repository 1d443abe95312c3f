"""Offline evaluation (``reco backtest``): the anchor protocol, metrics with bootstrap
intervals, the baselines, and the end-to-end run against a warehouse rebuilt as of a cutoff."""
