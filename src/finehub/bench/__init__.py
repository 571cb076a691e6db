"""Reproducible speed figures behind ``finehub bench [NAME|all] [--quick]``.

:mod:`finehub.bench.harness` runs contenders alternately and writes JSON; :mod:`finehub.bench.suite`
lists the benchmarks; each benchmark is a module with ``run(*, quick, threads) -> BenchResult``.
"""
