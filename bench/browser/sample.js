// sample.js — peak memory of a process tree, measured the way bench.js measures its own:
// every 100 ms, the sum of VmRSS and of Pss (smaps_rollup) over every descendant of PID
// (for baton.sh: the engine's Chromium browser, zygotes, renderers, GPU and utility
// processes). The process PID itself is not counted. On SIGTERM (or when PID is gone) it
// takes a last sample and prints {"rss_mb":…,"pss_mb":…} of the peaks.
//
// usage: node sample.js PID
'use strict';

const fs = require('fs');
const { descendants, kbField } = require('./proctree.js');

const root = Number(process.argv[2]);
if (!(root > 0)) {
  console.error('usage: node sample.js PID');
  process.exit(2);
}

const peak = { rss: 0, pss: 0 };
function sample() {
  let rss = 0, pss = 0;
  for (const pid of descendants(root)) {
    rss += kbField(`/proc/${pid}/status`, 'VmRSS');
    pss += kbField(`/proc/${pid}/smaps_rollup`, 'Pss');
  }
  peak.rss = Math.max(peak.rss, rss * 1024);
  peak.pss = Math.max(peak.pss, pss * 1024);
}

function finish() {
  clearInterval(timer);
  sample();
  const mb = (b) => Math.round(b / 1048576 * 10) / 10;
  console.log(JSON.stringify({ rss_mb: mb(peak.rss), pss_mb: mb(peak.pss) }));
  process.exit(0);
}

const timer = setInterval(() => {
  if (!fs.existsSync(`/proc/${root}`)) finish();
  else sample();
}, 100);
sample();
process.on('SIGTERM', finish);
process.on('SIGINT', finish);
