"""The commands' work, as library calls: the only modules that chain engine -> store -> render.

:mod:`~optviz.pipelines.run` (``optviz run``), :mod:`~optviz.pipelines.basin`,
:mod:`~optviz.pipelines.sweep` (and merge), :mod:`~optviz.pipelines.tune`, :mod:`~optviz.pipelines.compare`,
:mod:`~optviz.pipelines.animate` and :mod:`~optviz.pipelines.catalog` (``optviz list``).
"""
