"""Results on disk: run folders, sweep cells, and the csv/json/npz files of runs, sweeps and tunes.

Writers take :mod:`optviz.results` values; readers give them back. Nothing here runs
an optimizer or draws a figure.
"""
