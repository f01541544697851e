"""What is learned and how it is scored: one package per task, each implementing :class:`ltsnn.engine.Task`.

The engine never names a task; :mod:`ltsnn.build` picks one from the data set's ``task`` attribute.
"""
