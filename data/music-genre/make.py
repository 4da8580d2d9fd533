#!/usr/bin/env python3
"""Rebuilds data/music-genre/ from the Rodrigues et al. music-genre MTurk files.

Usage: python3 make.py [SOURCE_DIR]   (default /work/shared/datasets/music-genre-mturk)

Deterministic: the same source files give byte-identical outputs. Only the standard library is used.
Song ids such as "hiphop.00053.mp3" encode the true genre, so every song gets an opaque id instead:
training songs song-0001..song-0700 in the row order of music_genre_gold.csv, test songs song-0701..song-1000 in
the row order of music_genre_test.csv. Feature values are copied verbatim (same text as the source).
"""
import csv
import os
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/datasets/music-genre-mturk"
out = os.path.dirname(os.path.abspath(__file__))
CLASSES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
NF = 124


def read(name):
    with open(os.path.join(src, name), newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def fail(msg):
    sys.exit("make.py: " + msg)


gh, gold = read("music_genre_gold.csv")
th, test = read("music_genre_test.csv")
mh, mturk = read("music_genre_mturk.csv")
expected = ["id"] + ["feature%d" % i for i in range(NF)] + ["class"]
if gh != expected or th != expected:
    fail("unexpected header in the gold or test file")
if mh != ["id", "annotator"] + expected[1:]:
    fail("unexpected header in music_genre_mturk.csv")

ids = {}
for split, rows, first in (("train", gold, 1), ("test", test, len(gold) + 1)):
    for i, r in enumerate(rows):
        if len(r) != NF + 2:
            fail("%s row %d has %d fields" % (split, i + 2, len(r)))
        if r[0] in ids:
            fail("song %s appears twice" % r[0])
        if r[-1] not in CLASSES or r[0].split(".")[0] != r[-1]:
            fail("song %s: class %s" % (r[0], r[-1]))
        ids[r[0]] = "song-%04d" % (first + i)

train_features = {r[0]: r[1:-1] for r in gold}


def write(name, header, rows):
    with open(os.path.join(out, name), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


fheader = ["task"] + ["f%d" % i for i in range(NF)]
write("train-features.csv", fheader, [[ids[r[0]]] + r[1:-1] for r in gold])
write("test-features.csv", fheader, [[ids[r[0]]] + r[1:-1] for r in test])
write("train-truth.csv", ["task", "label"], [[ids[r[0]], r[-1]] for r in gold])
# truth.csv is the same labels under the bundled-dataset convention (task,truth), so `--dataset music-genre` scores.
write("truth.csv", ["task", "truth"], [[ids[r[0]], r[-1]] for r in gold])
write("test-truth.csv", ["task", "label"], [[ids[r[0]], r[-1]] for r in test])

answers = []
seen = set()
for i, r in enumerate(mturk):
    song, worker, label = r[0], r[1], r[-1]
    if song not in train_features:
        fail("answer row %d: song %s is not a training song" % (i + 2, song))
    if r[2:-1] != train_features[song]:
        fail("answer row %d: features differ from music_genre_gold.csv" % (i + 2))
    if label not in CLASSES:
        fail("answer row %d: label %s" % (i + 2, label))
    if (song, worker) in seen:
        fail("answer row %d: duplicate (song, worker)" % (i + 2))
    seen.add((song, worker))
    answers.append([ids[song], worker, label])
# The raw MTurk export (old-Mac CR line endings) must hold exactly the same (song, worker, answer) triples.
with open(os.path.join(src, "mturk_answers.csv"), newline="") as f:
    raw = [line.split(",") for line in f.read().replace("\r\n", "\n").replace("\r", "\n").split("\n") if line]
if raw[0] != ["WorkerID", "Input.song", "Input.true_label", "Answer.pred_label"]:
    fail("unexpected header in mturk_answers.csv")
if sorted((r[1], r[0], r[3]) for r in raw[1:]) != sorted((r[0], r[1], r[-1]) for r in mturk):
    fail("mturk_answers.csv and music_genre_mturk.csv hold different answers")
write("answers.csv", ["task", "worker", "label"], answers)

songs = {a[0] for a in answers}
workers = {a[1] for a in answers}
print("train songs %d (answered %d), test songs %d, answers %d, workers %d, classes %d"
      % (len(gold), len(songs), len(test), len(answers), len(workers), len(CLASSES)))
