"""Time commune search on a realistic query mix.

Usage: python bench/communes.py [N]   (default N=2000)

Queries are derived from real commune names the way citizens type them:
with and without diacritics, with a type word, with the province appended,
with a one-letter typo, half-typed, run together, plus some garbage.  The
mix is seeded, so runs are comparable.  Besides latency it reports how often
the intended commune is in the results, as a cheap quality signal.
"""

from __future__ import annotations

import random
import statistics
import sys
import time

from tipline.places.communes import Commune, directory
from tipline.places.textnorm import fold


def make_queries(n: int, seed: int = 2025) -> list[tuple[str, int | None, Commune | None]]:
    """(query, province_code, intended commune or None for garbage)."""
    d = directory()
    rng = random.Random(seed)
    communes = [c for p in d.provinces() for c in d.communes_in(p.code)]
    out: list[tuple[str, int | None, Commune | None]] = []
    for k in range(n):
        c = rng.choice(communes)
        plain = fold(c.short_name)
        style = k % 10
        province = None
        if style == 0:
            q = c.short_name
        elif style == 1:
            q = plain
        elif style == 2:
            q = c.name
        elif style == 3:
            q = f"{fold(c.kind)} {plain}"
        elif style == 4:
            q = f"{plain} {fold(d.province(c.province_code).short_name)}"
        elif style == 5:  # one typo: drop, double or swap a letter
            i = rng.randrange(len(plain))
            op = rng.choice("dds")
            if op == "d" and plain[i] != " ":
                q = plain[:i] + plain[i + 1 :]
            elif op == "s" and i + 1 < len(plain) and " " not in plain[i : i + 2]:
                q = plain[:i] + plain[i + 1] + plain[i] + plain[i + 2 :]
            else:
                q = plain[: i + 1] + plain[i:]
        elif style == 6:  # still typing
            q = plain[: max(3, len(plain) * 2 // 3)]
        elif style == 7:
            q, province = plain, c.province_code
        elif style == 8:
            q = plain.replace(" ", "")
        else:
            q, c = rng.choice(["asdf", "qwerty uiop", "xyz 123", "hello", "lorem ipsum", "!!!", "zzzz"]), None
        out.append((q, province, c))
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    t0 = time.perf_counter()
    d = directory()
    build_ms = (time.perf_counter() - t0) * 1000
    queries = make_queries(n)

    times: list[float] = []
    top1 = top8 = real = 0
    for q, province, intended in queries:
        t = time.perf_counter()
        results = d.search(q, province_code=province)
        times.append((time.perf_counter() - t) * 1000)
        if intended is not None:
            real += 1
            codes = [m.commune.code for m in results]
            top1 += bool(codes) and codes[0] == intended.code
            top8 += intended.code in codes

    times.sort()
    total_s = sum(times) / 1000
    print(f"directory build: {build_ms:.1f} ms")
    print(f"queries: {n}")
    print(f"p50: {statistics.median(times):.3f} ms  p99: {times[int(len(times) * 0.99) - 1]:.3f} ms  max: {times[-1]:.3f} ms")
    print(f"throughput: {n / total_s:,.0f} queries/s")
    # top-1 misses are mostly genuinely ambiguous names (9 communes are called "Tân An")
    print(f"intended commune in results: top-1 {top1 / real:.1%}, top-8 {top8 / real:.1%}")


if __name__ == "__main__":
    main()
