"""The ``track`` sub-commands beside the video ones of ``tracker.cli``: evaluation, tuning and
calibration on datasets (``evaluate``), and training and generating data (``train``)."""
