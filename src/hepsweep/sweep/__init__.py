"""Studies: the search-space grammar, the study runner behind the Hydra sweeper, reports, resume.

Kept free of imports so that Hydra's plugin scan, which reads :mod:`hepsweep.sweep.settings`,
stays fast; import from the submodules.
"""
