"""Move the line numbers of docs/bptt.md's code links to where their code is now.

Each link names a function and ends in a marker quoting its first line:

    [`lstm_step_backward`, lines 108-109](../npseq2seq/layers/lstm.py#L108-L109)<!-- do = dh * tanh_c -->

After an edit moves code, run `python docs/relink.py`: every range is moved
(keeping its length) to where its marker's line now is inside the function.
A marker found zero or several times there is reported and left alone. Check
the ranges' ends by eye; tests/test_docs.py checks the starts.
"""

import ast
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[`([\w.]+)`, (lines?) (\d+)(?:-(\d+))?\]\(\.\./([\w/]+\.py)#L(\d+)(?:-L(\d+))?\)"
                  r"<!-- (.+?) -->")


def function_lines(path, dotted):
    """(first line number, lines) of function `name` or method `Class.name`."""
    source = (ROOT / path).read_text()
    *owner, name = dotted.split(".")
    scope = ast.parse(source)
    if owner:
        scope = next(n for n in scope.body if isinstance(n, ast.ClassDef) and n.name == owner[0])
    node = next(n for n in ast.walk(scope) if isinstance(n, ast.FunctionDef) and n.name == name)
    return node.lineno, source.splitlines()[node.lineno - 1:node.end_lineno]


def relink(match, problems):
    function, word, first, last, path, _, _, marker = match.groups()
    length = int(last or first) - int(first)
    start, lines = function_lines(path, function)
    hits = [start + k for k, line in enumerate(lines) if marker in line]
    if len(hits) != 1:
        problems.append(f"{function}: marker {marker!r} found {len(hits)} times")
        return match.group(0)
    new_first, new_last = hits[0], hits[0] + length
    span = f"{new_first}-{new_last}" if length else f"{new_first}"
    anchor = f"L{new_first}-L{new_last}" if length else f"L{new_first}"
    return f"[`{function}`, {word} {span}](../{path}#{anchor})<!-- {marker} -->"


def main():
    doc = ROOT / "docs" / "bptt.md"
    problems = []
    text = LINK.sub(lambda m: relink(m, problems), doc.read_text())
    doc.write_text(text)
    print("\n".join(problems) or "all links moved to their markers")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
