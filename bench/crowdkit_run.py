"""Runs one Crowd-Kit aggregation as a user would: read the CSV with pandas, fit_predict, write task,label.

Usage: crowdkit_run.py METHOD ANSWERS.csv OUT.csv ITERATIONS
Used by bench/crowdkit.sh; prints "read=S fit=S write=S iterations=N" on stderr.
"""
import sys
import time

t0 = time.perf_counter()
import pandas as pd  # noqa: E402
import crowdkit.aggregation as agg  # noqa: E402

method, answers, out, iterations = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
# Exact iteration counts: tol = -inf never stops early (with tol = 0 some loops stop when the loss stalls).
make = {
    "mv": lambda: agg.MajorityVote(),
    "wawa": lambda: agg.Wawa(),
    "zbs": lambda: agg.ZeroBasedSkill(n_iter=iterations),
    "ds": lambda: agg.DawidSkene(n_iter=iterations, tol=float("-inf")),
    "onecoin": lambda: agg.OneCoinDawidSkene(n_iter=iterations, tol=float("-inf")),
    "glad": lambda: agg.GLAD(n_iter=iterations, tol=float("-inf")),
    "mace": lambda: agg.MACE(n_iter=iterations),
    "mmsr": lambda: agg.MMSR(),
    "kos": lambda: agg.KOS(n_iter=iterations),
}
t1 = time.perf_counter()
df = pd.read_csv(answers)
t2 = time.perf_counter()
labels = make[method]().fit_predict(df)
t3 = time.perf_counter()
labels.rename("label").to_csv(out, index_label="task")
t4 = time.perf_counter()
print(f"import={t1 - t0:.2f} read={t2 - t1:.2f} fit={t3 - t2:.2f} write={t4 - t3:.2f}", file=sys.stderr)
