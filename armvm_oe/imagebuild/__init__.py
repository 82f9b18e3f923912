"""``armvm-oe build`` (see docs/build.md), one module per step:

* :mod:`.orchestrate` -- the chain (:func:`~.orchestrate.run_build`)
* :mod:`.options` -- :class:`~.options.BuildOptions`, the outcome, the errors
* :mod:`.preflight` -- the doctor before the build, the checkout at the lock
* :mod:`.hostrun` -- ``kas build`` on the host, the log/progress sink
* :mod:`.incontainer` -- ``kas build`` in the build container
* :mod:`.postbuild` -- diagnosis, artifacts, verify, AVH, the report
* :mod:`.progress` (bitbake's output), :mod:`.report` (``build-report.json``),
  :mod:`.scaleout` (sstate mirror, hashserv, PR server), :mod:`.verifyhook`

The package is not called ``build``: pytest and most source-tree tools skip
folders of that name as generated output."""
