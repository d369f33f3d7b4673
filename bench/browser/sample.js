// sample.js — peak memory of a process tree, measured the way bench.js measures its own:
// every 100 ms, the sum of VmRSS and of Pss (smaps_rollup) over every descendant of PID
// (for baton.sh: the engine's Chromium browser, zygotes, renderers, GPU and utility
// processes). The process PID itself is not counted. On SIGTERM (or when PID is gone) it
// takes a last sample and prints {"rss_mb":…,"pss_mb":…} of the peaks.
//
// usage: node sample.js PID
'use strict';

const fs = require('fs');

const root = Number(process.argv[2]);
if (!(root > 0)) {
  console.error('usage: node sample.js PID');
  process.exit(2);
}

function descendants(pid) {
  const children = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try { stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8'); } catch { continue; }
    // comm may hold spaces and parentheses: the fields after it follow the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(name));
  }
  const out = [];
  const todo = [pid];
  while (todo.length) {
    for (const c of children.get(todo.pop()) || []) { out.push(c); todo.push(c); }
  }
  return out;
}

function kbField(path, field) {
  try {
    const m = fs.readFileSync(path, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; } // the process ended between listing and reading
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
