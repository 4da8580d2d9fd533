# WAL pages per commit of a group of 32 answers on SQLite (4 KiB pages), with the service's schema before (old) and
# after (new) migration 6, for bench/README.md ("Session 9"): a load-independent measure of the answer path's write
# volume (each commit writes every page it dirtied to the WAL, and the checkpoint copies them back).
# Mimics `serve-load --mode answer`: 200,000 tasks, 64 workers, 1,200 named leases per worker (tasks t{w*1200+j}),
# then groups of 32 answers (one per worker, the two cohorts alternating) with the service's writes: the answer row,
# its lease closed, its task's count and confidence, the project's count. Needs only python3 (sqlite3 module).
# Usage: python3 bench/wal-pages.py old|new MIN_ANSWERS MAX_ANSWERS      (e.g. new 64 64, as serve-load's project)
import sqlite3, os, sys, random
new = sys.argv[1] == 'new'; minA, maxA = int(sys.argv[2]), int(sys.argv[3]); L = 1200; W = 64; T = 200000
db = f'/tmp/wal-{sys.argv[1]}.db'
for f in (db, db + '-wal', db + '-shm'):
    if os.path.exists(f): os.remove(f)
c = sqlite3.connect(db, isolation_level=None)
c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA cache_size=-65536")
c.executescript(f"""
CREATE TABLE projects (project_id TEXT NOT NULL PRIMARY KEY, answer_count BIGINT NOT NULL);
CREATE TABLE tasks (project_id TEXT NOT NULL, task_id TEXT NOT NULL, seq BIGINT NOT NULL, payload TEXT NULL, gold TEXT NULL,
  answers INTEGER NOT NULL, confidence REAL NULL, load_count INTEGER NOT NULL, features TEXT NULL,
  overlap_from INTEGER NOT NULL DEFAULT 0, overlap_to INTEGER NOT NULL DEFAULT 0, overlap_confidence REAL NULL, PRIMARY KEY (project_id, task_id));
CREATE INDEX tasks_seq ON tasks (project_id, seq);
CREATE INDEX tasks_load ON tasks (project_id, load_count, seq);
{"CREATE INDEX tasks_overlap_range ON tasks (project_id, overlap_confidence, load_count, seq) WHERE load_count >= overlap_from AND load_count < overlap_to;" if new else
 "CREATE INDEX tasks_overlap ON tasks (project_id, confidence, load_count, seq);"}
CREATE TABLE assignments (project_id TEXT NOT NULL, assignment_id TEXT NOT NULL, task_id TEXT NOT NULL, worker_id TEXT NOT NULL,
  round INTEGER NOT NULL, started_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (project_id, assignment_id));
CREATE INDEX assignments_task ON assignments (project_id, task_id, worker_id);
CREATE INDEX assignments_worker ON assignments (project_id, worker_id, started_at, assignment_id) WHERE state = 'open';
CREATE INDEX assignments_expiry ON assignments (project_id, expires_at) WHERE state = 'open';
CREATE TABLE answers (project_id TEXT NOT NULL, worker_id TEXT NOT NULL, answer_id TEXT NOT NULL, task_id TEXT NOT NULL,
  label TEXT NOT NULL, round INTEGER NOT NULL, assignment_id TEXT NULL, answered_at BIGINT NOT NULL,
  seconds REAL NULL, late INTEGER NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (project_id, worker_id, answer_id));
CREATE UNIQUE INDEX answers_task_worker ON answers (project_id, task_id, worker_id);
CREATE INDEX answers_round ON answers (project_id, round, seq);
""")
P = 'p_Q2xv3mR8aZkT1yNw'
c.execute("BEGIN"); c.execute("INSERT INTO projects VALUES (?, 0)", (P,))
c.executemany("INSERT INTO tasks (project_id, task_id, seq, payload, gold, answers, load_count, overlap_from, overlap_to) VALUES (?,?,?,NULL,NULL,0,0,?,?)",
              ((P, f't{i}', i, minA, maxA) for i in range(T)))
c.execute("COMMIT")
rnd = random.Random(1); t0 = 1_700_000_000_000
def aid(): return 'a_' + ''.join(rnd.choice('abcdefghijklmnopqrstuvwxyz0123456789') for _ in range(22))
leases = [[] for _ in range(W)]
c.execute("BEGIN")
for j in range(L):
    for w in range(W):
        task = f't{(w * L + j) % T}'; a = aid(); s = t0 + j * W + w
        c.execute("INSERT INTO assignments VALUES (?,?,?,?,0,?,?,'open')", (P, a, task, f'w{w:02}', s, s + 600_000))
        c.execute("UPDATE tasks SET load_count = load_count + 1" + (", overlap_confidence = confidence" if new else "") + " WHERE project_id = ? AND task_id = ?", (P, task))
        leases[w].append((task, a))
c.execute("COMMIT")
c.execute("PRAGMA wal_autocheckpoint=0"); c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
seq = 0; groups = 200; frames = []
for g in range(groups):
    before = os.path.getsize(db + '-wal') if os.path.exists(db + '-wal') else 0
    cohort = range(0, 32) if g % 2 == 0 else range(32, 64); j = g // 2
    c.execute("BEGIN")
    for w in cohort:
        task, a = leases[w][j]
        c.execute("INSERT INTO answers VALUES (?,?,?,?,?,0,?,?,?,0,?)", (P, f'w{w:02}', f'w{w:02}-{j}', task, 'a', a, t0 + 10**6, 1.0, seq)); seq += 1
        c.execute("UPDATE assignments SET state = 'answered' WHERE project_id = ? AND assignment_id = ?", (P, a))
        if new: c.execute("UPDATE tasks SET answers = answers + 1, confidence = 1.0, overlap_confidence = CASE WHEN load_count >= overlap_from AND load_count < overlap_to THEN 1.0 ELSE overlap_confidence END WHERE project_id = ? AND task_id = ?", (P, task))
        else: c.execute("UPDATE tasks SET answers = answers + 1, confidence = 1.0 WHERE project_id = ? AND task_id = ?", (P, task))
    c.execute("UPDATE projects SET answer_count = answer_count + 32 WHERE project_id = ?", (P,))
    c.execute("COMMIT")
    frames.append((os.path.getsize(db + '-wal') - max(before, 32)) / (4096 + 24))
steady = frames[20:]
print(f"{sys.argv[1]} min={minA} max={maxA}: WAL pages per commit of 32 answers, mean {sum(steady)/len(steady):.1f} (groups 20-{groups})")
