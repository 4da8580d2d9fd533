#!/usr/bin/env python3
"""Copies the tables and summary lines of docs/sharing/*.txt (written by make-sharing.sh) into docs/sharing.md."""
import re, pathlib
root = pathlib.Path(__file__).parent
md = (root / "sharing.md").read_text()
for txt in sorted((root / "sharing").glob("*.txt")):
    lines = txt.read_text().splitlines()
    title = next((l.strip() for l in lines if l.strip().startswith("m = ")), None)
    if title is None:
        continue
    rows = [l for l in lines if l.startswith("│")]
    if not rows:
        continue
    cells = [[c.strip() for c in r.strip("│").split("│")] for r in rows]
    table = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])] + ["| " + " | ".join(c) + " |" for c in cells[1:]]
    after = [l.strip() for l in lines[lines.index(next(l for l in lines if l.startswith("╰"))) + 1:] if l.strip()]
    block = "\n".join(table) + "\n\n" + "  \n".join(after)
    # Replace the table and the summary lines that follow the bold title in the markdown.
    pattern = re.compile(r"(\*\*" + re.escape(title) + r"\*\*\n\n)(\|.*?\n)(?:\n(?:[^\n!]+\n)*)", re.S)
    m = pattern.search(md)
    if m is None:
        print("not found:", title)
        continue
    md = md[:m.start()] + m.group(1) + block + "\n\n" + md[m.end():]
(root / "sharing.md").write_text(md)
