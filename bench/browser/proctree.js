// proctree.js — a process tree's memory as bench.js and sample.js measure it: the
// descendants of a pid (through the ppid field of /proc/PID/stat) and one "kB" field
// of a /proc file (VmRSS in status, Pss in smaps_rollup).
'use strict';

const fs = require('fs');

function descendants(root) {
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
  const todo = [root];
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

module.exports = { descendants, kbField };
