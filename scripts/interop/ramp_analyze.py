#!/usr/bin/env python3
"""Send-rate and send-lag analysis for ramp.sh, the same for every tool.

Each tool's per-request send times (seconds, any origin) are sorted; the first 10% are dropped as
warm-up. Achieved rate = (n - 1) / (last - first). Lag of the i-th send against the ideal
constant-rate schedule t0 + i / rate, with t0 chosen as the latest anchor that leaves no lag
negative (the alignment most favourable to the tool). A step passes when the achieved rate is
within 2% of the offered rate, lag p99 <= 5 ms, and at least 98% of the requests succeeded.

Send time per tool: accelbench `sent_s` (when libcurl took the body, i.e. on the wire);
AIPerf `request_start_ns` (its worker starts the request; earlier than the wire, so favourable to
it); GuideLLM `request_start` from the request timings.
Usage: ramp_analyze.py one TOOL RATE DIR  |  ramp_analyze.py table RESULTS_DIR
"""
import glob, json, math, os, sys

MAX_LAG_MS = 5.0
MAX_SHORTFALL = 0.02


def walk(o):
    if isinstance(o, dict):
        yield o
        for v in o.values():
            yield from walk(v)
    elif isinstance(o, list):
        for v in o:
            yield from walk(v)


def sends(tool, d):
    """(send times in seconds, ok count, total count)"""
    if tool == "accelbench":
        rs = [json.loads(l) for l in open(os.path.join(d, "requests.jsonl"))]
        return [r["sent_s"] for r in rs if r.get("sent_s") is not None], sum(r["status"] == "ok" for r in rs), len(rs)
    if tool == "aiperf":
        ts, ok, n = [], 0, 0
        for l in open(os.path.join(d, "profile_export.jsonl")):
            r = json.loads(l)
            m = r["metadata"]
            if m.get("benchmark_phase", "profiling") != "profiling":
                continue
            n += 1
            ts.append(m["request_start_ns"] / 1e9)
            ok += "error" not in r or not r["error"]
        return ts, ok, n
    if tool == "guidellm":
        b = json.load(open(os.path.join(d, "benchmarks.json")))
        ts, ok, n = [], 0, 0
        bench = b["benchmarks"][0]
        for status in ("successful", "errored", "incomplete"):
            for r in bench["requests"].get(status) or []:
                t = None
                for o in walk(r):
                    if "request_start" in o and o["request_start"] is not None:
                        t = o["request_start"]
                        break
                if t is None:
                    continue
                n += 1
                ok += status == "successful"
                ts.append(float(t))
        return ts, ok, n
    raise SystemExit(f"unknown tool {tool}")


def analyse(tool, rate, d):
    try:
        ts, ok, n = sends(tool, d)
    except (OSError, KeyError, ValueError, IndexError) as e:
        return {"tool": tool, "rate": rate, "pass": False, "why": f"no results ({type(e).__name__}: {e})"}
    ts.sort()
    ts = ts[len(ts) // 10:]
    if len(ts) < 10:
        return {"tool": tool, "rate": rate, "pass": False, "why": f"only {len(ts)} sends"}
    achieved = (len(ts) - 1) / (ts[-1] - ts[0])
    offsets = [t - i / rate for i, t in enumerate(ts)]
    t0 = min(offsets)
    lags = sorted((o - t0) * 1000 for o in offsets)
    p = lambda q: lags[max(0, math.ceil(q * len(lags)) - 1)]
    why = []
    if achieved < rate * (1 - MAX_SHORTFALL):
        why.append(f"achieved {achieved:.0f} < {rate * (1 - MAX_SHORTFALL):.0f}")
    if p(0.99) > MAX_LAG_MS:
        why.append(f"lag p99 {p(0.99):.2f} ms > {MAX_LAG_MS}")
    if ok < 0.98 * n:
        why.append(f"{n - ok} of {n} failed")
    return {"tool": tool, "rate": rate, "achieved": achieved, "lag_p50_ms": p(0.5), "lag_p99_ms": p(0.99),
            "ok": ok, "n": n, "pass": not why, "why": "; ".join(why)}


def fmt(a):
    if "achieved" not in a:
        return f"FAIL {a['tool']} {a['rate']}: {a['why']}"
    v = "PASS" if a["pass"] else "FAIL"
    return (f"{v} {a['tool']} {a['rate']} req/s: achieved {a['achieved']:.1f}, lag p50 {a['lag_p50_ms']:.3f} ms, "
            f"p99 {a['lag_p99_ms']:.3f} ms, ok {a['ok']}/{a['n']}" + (f" ({a['why']})" if a["why"] else ""))


if sys.argv[1] == "one":
    tool, rate, d = sys.argv[2], float(sys.argv[3]), sys.argv[4]
    a = analyse(tool, rate, d)
    json.dump(a, open(d + ".verdict.json", "w"))
    print(fmt(a))
else:
    R = sys.argv[2]
    rows = [json.load(open(f)) for f in glob.glob(os.path.join(R, "*.verdict.json"))]
    print("| tool | offered req/s | achieved req/s | lag p50 ms | lag p99 ms | ok | verdict |")
    print("|---|---|---|---|---|---|---|")
    best = {}
    for a in sorted(rows, key=lambda a: (a["tool"], a["rate"])):
        if "achieved" in a:
            print(f"| {a['tool']} | {a['rate']:.0f} | {a['achieved']:.1f} | {a['lag_p50_ms']:.3f} | {a['lag_p99_ms']:.3f} | {a['ok']}/{a['n']} | {'pass' if a['pass'] else 'FAIL: ' + a['why']} |")
        else:
            print(f"| {a['tool']} | {a['rate']:.0f} | - | - | - | - | FAIL: {a['why']} |")
        if a["pass"]:
            best[a["tool"]] = max(best.get(a["tool"], 0), a["rate"])
    print()
    for t in sorted({a["tool"] for a in rows}):
        print(f"- {t}: highest rate delivered: {best[t]:.0f} req/s" if t in best else f"- {t}: no rate delivered")
