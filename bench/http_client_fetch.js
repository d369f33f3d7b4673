// http_client_fetch.js — the Node side of bench/http_client.sh: N loops of
// `await fetch(url)` (Node's own fetch, undici, no packages) for SECONDS,
// each reading the whole body. Prints one JSON line: requests, seconds,
// failures, and the latencies' p50/p99 in ms.
// Usage: node bench/http_client_fetch.js URL N SECONDS
'use strict';

const [url, nArg, secsArg] = process.argv.slice(2);
const n = Number(nArg);
const secs = Number(secsArg);
if (!url || !(n > 0) || !(secs > 0)) {
  console.error('usage: node http_client_fetch.js URL N SECONDS');
  process.exit(2);
}

const ms = [];
let failures = 0;

async function worker(stop) {
  while (performance.now() < stop) {
    const t0 = performance.now();
    try {
      const res = await fetch(url);
      await res.text();
      if (res.status !== 200) failures++;
    } catch (e) {
      failures++;
    }
    ms.push(performance.now() - t0);
  }
}

function pct(sorted, p) {
  if (!sorted.length) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.max(rank, 1) - 1];
}

(async () => {
  const t0 = performance.now();
  const stop = t0 + secs * 1000;
  await Promise.all(Array.from({ length: n }, () => worker(stop)));
  const elapsed = (performance.now() - t0) / 1000;
  ms.sort((a, b) => a - b);
  console.log(JSON.stringify({
    requests: ms.length, seconds: elapsed, failures,
    p50_ms: pct(ms, 50), p99_ms: pct(ms, 99),
  }));
})();
