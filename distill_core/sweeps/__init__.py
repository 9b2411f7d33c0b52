"""Sweeps: a grid (or random draws) of configs run as one study, the teacher prepared once, on the local worker
queue or a Ray cluster. spec.py reads and expands them, records.py stores them, launch.py starts them, driver.py
runs them, ray_runner.py is the Ray side, estimate.py says what they will cost."""
