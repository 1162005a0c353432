"""A skill with one very large reference file: what a table of contents and a page cost the server.

Prints the server's peak memory (VmHWM) after start-up and after `read_skill_file(toc=True)` and a
page read deep into the file, with the time of each call. Reads are streamed, so the peak should
stay close to the start-up figure whatever the file's size.

    .venv/bin/python bench/big_file_bench.py [--mb 200] [--newlines]

``--newlines``: the file is nothing but newlines (200 million lines for 200 MB), a skill built to
make a line-by-line table of contents spend its whole time limit.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from skills_bench import RawClient, skilldeck_cmd  # noqa: E402


def build(root: Path, megabytes: int, newlines: bool = False) -> tuple[Path, int]:
    """A skill whose one reference is a markdown file of about `megabytes` MB; (root, its lines)."""
    skill = root / "big-reference"
    (skill / "references").mkdir(parents=True, exist_ok=True)
    (skill / "SKILL.md").write_text("---\nname: big-reference\ndescription: Has one huge reference.\n---\n# Big\n")
    block = b"".join(b"## Section %d\n" % i + b"Some reference text that goes on for a while.\n" * 20
                     for i in range(1000)) if not newlines else b"\n" * (1 << 20)
    blocks = megabytes * 1024 * 1024 // len(block) + 1
    with open(skill / "references" / "huge.md", "wb") as fh:
        for _ in range(blocks):
            fh.write(block)
    return root, blocks * block.count(b"\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200, help="size of the reference file in MB")
    parser.add_argument("--newlines", action="store_true", help="a file of nothing but newlines")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root, lines = build(work / "skills", args.mb, args.newlines)
        line = lines * 9 // 10  # a page near the end: the reader must skip what comes before
        size = (root / "big-reference" / "references" / "huge.md").stat().st_size
        env = {**os.environ, "SKILLDECK_HOME": str(work / "home"), "SKILLDECK_EMBEDDINGS": "off"}
        client = RawClient(skilldeck_cmd(root, "--no-watch"), work, env)
        client.initialize()
        client.request("tools/list")
        start = client.peak_rss_mb()
        toc_s, _ = client.call("read_skill_file", name="big-reference", path="references/huge.md", toc=True)
        after_toc = client.peak_rss_mb()
        page_s, _ = client.call("read_skill_file", name="big-reference", path="references/huge.md",
                                start_line=line, end_line=line + 200)
        after_page = client.peak_rss_mb()
        client.close()
    print(f"reference file: {size / 1e6:.0f} MB")
    print(f"server peak memory (VmHWM): after start-up {start:.0f} MiB, after toc {after_toc:.0f} MiB "
          f"({toc_s:.2f} s), after a page at line {line:,} {after_page:.0f} MiB ({page_s:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
