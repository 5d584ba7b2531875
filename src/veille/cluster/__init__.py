"""Scale out: ``veille analyze INPUTS --cluster ray[://ADDRESS]`` runs a batch on a Ray cluster.

The shape of the work: one CPU task per video runs the same per-video pipeline as a local batch
(:func:`veille.pipeline.analyze`); its model calls go to long-lived model actors (one per GPU, or per
few CPU cores) that load each model once on their node and serve the chunks of every video. The
report files come back to the driver, which writes them into the output folder and indexes them,
once per video. Ray is optional (``pip install -e ".[ray]"``); nothing here is imported by a local run.
"""
