"""The book tooling: executing notebooks into the HTML book, slides, student copies, cell metadata and timings.

Layers, bottom to top: ``meta`` (cell tags, the notebook frame), ``timings``, ``vendor`` (npm scripts) and
``notebooks`` (paths, execution, stripping); ``pages`` (the HTML book); ``workflows`` (run, refresh, adopt, ...);
``__main__`` (the command line). It never imports the course's asset layer (:mod:`utils.course`).
"""
