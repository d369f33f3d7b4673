// bench.js — one contender of the browser-pool benchmark: N tasks (navigate to a fixture
// page, wait for load, read the title and count `.post`) run by puppeteer-core or
// puppeteer-cluster, printing one JSON line with throughput and peak memory.
//
// usage: node bench.js CONTENDER CONCURRENCY TASKS BASE_URL
//   CONTENDER: launch-per-task | cluster-context | cluster-page | pages-reused |
//              contexts-reused | warmup
//
// seconds runs from before the launch to after closing; steady_seconds from when the
// browser (and the cluster, or the K pages) is up to the end of the last task — the figure
// comparable with a pool that is already warm. For launch-per-task they are the same:
// launching and closing the browser is the task.
'use strict';

const fs = require('fs');
const puppeteer = require('puppeteer-core');
const { Cluster } = require('puppeteer-cluster');

const CHROMIUM = process.env.CHROMIUM || '/usr/lib/chromium/chromium';
const ARGS = [
  '--no-sandbox', '--headless=new', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--log-level=3',
];
// puppeteer makes a fresh temporary --user-data-dir for every launch and removes it after.
const LAUNCH = { executablePath: CHROMIUM, headless: true, pipe: true, args: ARGS };

// ---- memory sampling -------------------------------------------------------------------

const { descendants, kbField } = require('./proctree.js');

function sampler() {
  const peak = { node: 0, rss: 0, pss: 0 };
  const sample = () => {
    peak.node = Math.max(peak.node, process.memoryUsage().rss);
    let rss = 0, pss = 0;
    for (const pid of descendants(process.pid)) {
      rss += kbField(`/proc/${pid}/status`, 'VmRSS');
      pss += kbField(`/proc/${pid}/smaps_rollup`, 'Pss');
    }
    peak.rss = Math.max(peak.rss, rss * 1024);
    peak.pss = Math.max(peak.pss, pss * 1024);
  };
  const timer = setInterval(sample, 100);
  sample();
  return { peak, stop() { clearInterval(timer); sample(); } };
}

// ---- the task ----------------------------------------------------------------------------

async function task(page, base, n) {
  await page.goto(`${base}/page/${n}`, { waitUntil: 'load', timeout: 30000 });
  const r = await page.evaluate(() => ({
    posts: document.querySelectorAll('.post').length,
    title: document.title,
  }));
  if (r.posts !== n % 20 + 1 || r.title !== `Page ${n}`) {
    throw new Error(`page ${n}: got ${JSON.stringify(r)}`);
  }
}

// ---- contenders ----------------------------------------------------------------------

// Set by a contender once its browser (and cluster, pages) is up, and once its last task
// is done (before closing): steady_seconds is the time between.
let readyAt = null, doneAt = null;
function ready() { readyAt = process.hrtime.bigint(); }
function done() { doneAt = process.hrtime.bigint(); }

async function launchPerTask(base, tasks) {
  for (let n = 0; n < tasks; n++) {
    const browser = await puppeteer.launch(LAUNCH);
    try {
      const [page] = await browser.pages();
      await task(page || await browser.newPage(), base, n);
    } finally {
      await browser.close();
    }
  }
}

async function cluster(kind, base, k, tasks) {
  const c = await Cluster.launch({
    concurrency: kind,
    maxConcurrency: k,
    puppeteer,
    puppeteerOptions: LAUNCH,
    retryLimit: 0,
    timeout: 30000,
  });
  await c.task(async ({ page, data }) => task(page, base, data));
  ready();
  const runs = [];
  for (let n = 0; n < tasks; n++) runs.push(c.execute(n));
  const settled = await Promise.allSettled(runs);
  await c.idle();
  done();
  await c.close();
  const failed = settled.filter((s) => s.status === 'rejected');
  if (failed.length) throw new Error(`${failed.length} tasks failed: ${failed[0].reason}`);
}

// One browser, K pages opened once and reused; workers pull task numbers from one queue.
async function pagesReused(base, k, tasks) {
  const browser = await puppeteer.launch(LAUNCH);
  try {
    const pages = [];
    for (let i = 0; i < k; i++) pages.push(await browser.newPage());
    ready();
    let next = 0;
    await Promise.all(pages.map(async (page) => {
      while (next < tasks) await task(page, base, next++);
    }));
    done();
  } finally {
    await browser.close();
  }
}

// K browser contexts with one page each, opened once and reused: what a pool of isolated
// contexts does (a page per context, kept across tasks), without an orchestrator.
async function contextsReused(base, k, tasks) {
  const browser = await puppeteer.launch(LAUNCH);
  try {
    const pages = [];
    for (let i = 0; i < k; i++) pages.push(await (await browser.createBrowserContext()).newPage());
    ready();
    let next = 0;
    await Promise.all(pages.map(async (page) => {
      while (next < tasks) await task(page, base, next++);
    }));
    done();
  } finally {
    await browser.close();
  }
}

async function main() {
  const [contender, kArg, tasksArg, base] = process.argv.slice(2);
  const k = Number(kArg), tasks = Number(tasksArg);
  if (!base || !(k >= 1) || !(tasks >= 1)) {
    console.error('usage: node bench.js CONTENDER CONCURRENCY TASKS BASE_URL');
    process.exit(2);
  }
  const run = {
    'launch-per-task': () => launchPerTask(base, tasks),
    'cluster-context': () => cluster(Cluster.CONCURRENCY_CONTEXT, base, k, tasks),
    'cluster-page': () => cluster(Cluster.CONCURRENCY_PAGE, base, k, tasks),
    'pages-reused': () => pagesReused(base, k, tasks),
    'contexts-reused': () => contextsReused(base, k, tasks),
    'warmup': () => launchPerTask(base, tasks),
  }[contender];
  if (!run) {
    console.error(`unknown contender '${contender}'`);
    process.exit(2);
  }
  const mem = sampler();
  const t0 = process.hrtime.bigint();
  await run();
  const t2 = process.hrtime.bigint();
  const seconds = Number(t2 - t0) / 1e9;
  const steady = Number((doneAt || t2) - (readyAt || t0)) / 1e9;
  mem.stop();
  if (contender === 'warmup') return;
  const mb = (b) => Math.round(b / 1048576 * 10) / 10;
  console.log(JSON.stringify({
    contender,
    concurrency: contender === 'launch-per-task' ? 1 : k,
    tasks,
    seconds: Math.round(seconds * 1000) / 1000,
    tasks_per_s: Math.round(tasks / seconds * 100) / 100,
    steady_seconds: Math.round(steady * 1000) / 1000,
    steady_tasks_per_s: Math.round(tasks / steady * 100) / 100,
    node_peak_rss_mb: mb(mem.peak.node),
    chromium_peak_rss_mb: mb(mem.peak.rss),
    chromium_peak_pss_mb: mb(mem.peak.pss),
  }));
}

main().catch((e) => {
  console.error(`bench.js: ${e && e.stack || e}`);
  process.exit(1);
});
