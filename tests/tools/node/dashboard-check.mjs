// Drives the broker's dashboard in headless Chromium (playwright-core, the system browser) and checks what a user
// would: live aggregate values that change, the connected devices, the queue and subscription panels, and a command
// sent from the form that the device answers. Prints one JSON line with what it saw; exits 1 with a clear message
// (and a screenshot in SCREENSHOT_DIR) when something is missing.
//
// Environment:
//   DASHBOARD_URL     http://127.0.0.1:PORT/ (required)
//   DEVICE_IDS        comma-separated device ids that publish telemetry and answer commands (required)
//   COMMAND_DEVICE    the device to send `ping` to (default the first of DEVICE_IDS)
//   SUBSCRIPTION      an event subscription that must be listed (optional)
//   CHROMIUM          the browser (default /usr/bin/chromium)
//   SCREENSHOT_DIR    where failure.png (and dashboard.png on success) go (default: none)
//   DOCS_SCREENSHOT   also save the success screenshot here (optional; docs/dashboard.png), after DOCS_SETTLE_MS
//   HISTORY_FIRST_END the earliest window end aggregated before the page opened (ISO 8601, optional): the chart must
//                     open with it, which only the history can give (live results end after the page opened)
//   HISTORY_MIN_POINTS with HISTORY_FIRST_END: points the selected device's line must have from the history
//   TIMEOUT_MS        per step (default 20000)
import { chromium } from 'playwright-core';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const env = process.env;
const url = env.DASHBOARD_URL;
const devices = (env.DEVICE_IDS ?? '').split(',').filter(Boolean);
const commandDevice = env.COMMAND_DEVICE || devices[0];
const executablePath = env.CHROMIUM || '/usr/bin/chromium';
const timeout = Number(env.TIMEOUT_MS || 20000);

function fail(message) {
  console.error(`dashboard-check: ${message}`);
  process.exitCode = 1;
}

if (!url || devices.length === 0) {
  fail('DASHBOARD_URL and DEVICE_IDS are required');
  process.exit(1);
}
if (!existsSync(executablePath)) {
  fail(`no browser at ${executablePath}: install Debian's chromium (apt-get install -y chromium; scripts/test.sh does it)`);
  process.exit(1);
}

// playwright-core gives the browser a fresh profile of its own (a new --user-data-dir each launch).
let browser;
try {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    timeout,
    // As root, on a closed network: no sandbox, no GPU, and nothing that phones home (it would hang).
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
} catch (error) {
  fail(`could not start ${executablePath}: ${error.message}`);
  process.exit(1);
}
const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
const consoleErrors = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => consoleErrors.push(String(e)));

const result = { url, steps: [] };
let step = 'open';
const cell = (device, field) => `#agg-table tbody tr[data-key="${device}"] td[data-field="${field}"]`;

try {
  const response = await page.goto(url, { waitUntil: 'domcontentloaded', timeout });
  if (!response || response.status() !== 200) throw new Error(`GET ${url} answered ${response?.status()}`);
  result.steps.push('page');

  if (env.HISTORY_FIRST_END) {
    step = 'history on load';
    const minPoints = Number(env.HISTORY_MIN_POINTS || 1);
    await page.waitForFunction(([firstEnd, min]) => {
      const c = document.getElementById('agg-chart').dataset;
      return c.firstEnd && Date.parse(c.firstEnd) <= Date.parse(firstEnd) && Number(c.devicePoints) >= min;
    }, [env.HISTORY_FIRST_END, minPoints], { timeout });
    const chart = await page.evaluate(() => ({ ...document.getElementById('agg-chart').dataset }));
    result.history = { expectedFirstEnd: env.HISTORY_FIRST_END, minPoints, chart };
    result.steps.push('history');
  }

  step = 'live aggregates';
  await page.waitForFunction(() => document.getElementById('live-state')?.textContent === 'live', null, { timeout });
  for (const device of devices) {
    await page.waitForSelector(cell(device, 'temperature'), { timeout });
  }
  const firstEnd = await page.getAttribute(`#agg-table tbody tr[data-key="${devices[0]}"]`, 'data-end');
  const firstValue = await page.textContent(cell(devices[0], 'temperature'));
  if (!/\d/.test(firstValue ?? '')) throw new Error(`no number in the temperature cell of ${devices[0]}: '${firstValue}'`);
  // Live: a later window of the same device replaces the row.
  await page.waitForFunction(([key, end]) => {
    const row = document.querySelector(`#agg-table tbody tr[data-key="${key}"]`);
    return row && row.dataset.end !== end;
  }, [devices[0], firstEnd], { timeout });
  const laterEnd = await page.getAttribute(`#agg-table tbody tr[data-key="${devices[0]}"]`, 'data-end');
  const values = {};
  for (const device of devices) values[device] = await page.textContent(cell(device, 'temperature'));
  result.aggregates = { firstEnd, laterEnd, firstValue, values, summary: await page.textContent('#agg-summary') };
  // The chart drew something other than the background.
  result.chartPixels = await page.evaluate(() => {
    const c = document.getElementById('agg-chart');
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
    return painted;
  });
  if (result.chartPixels < 500) throw new Error(`the chart is (nearly) empty: ${result.chartPixels} painted pixels`);
  result.steps.push('aggregates');

  step = 'connected devices';
  for (const device of devices) {
    await page.waitForSelector(`#clients-table tbody tr[data-client-id="${device}"]`, { timeout });
  }
  result.clients = await page.textContent('#clients-summary');
  result.steps.push('clients');

  step = 'nodes';
  await page.waitForSelector('#nodes-table tbody tr[data-node-id]', { timeout });
  result.nodes = await page.textContent('#nodes-summary');
  if (result.nodes !== 'single process') throw new Error(`the nodes panel does not say single process: ${result.nodes}`);
  result.steps.push('nodes');

  step = 'queues and subscriptions';
  await page.waitForSelector('#queues-table tbody tr[data-queue="$commands"] td[data-stat="active"]', { timeout });
  if (env.SUBSCRIPTION) {
    await page.waitForSelector(`#subscriptions-table tbody tr[data-subscription="${env.SUBSCRIPTION}"]`, { timeout });
  }
  result.queues = await page.textContent('#queues-summary');
  result.subscriptions = await page.textContent('#subscriptions-summary');
  result.steps.push('queues', 'subscriptions');

  step = 'command';
  await page.fill('#cmd-device', commandDevice);
  await page.fill('#cmd-name', 'ping');
  await page.fill('#cmd-payload', '{"from":"dashboard"}');
  await page.fill('#cmd-wait', '10');
  await page.click('#cmd-send');
  await page.waitForSelector('#cmd-result[data-outcome]:not([hidden])', { timeout });
  const outcome = await page.getAttribute('#cmd-result', 'data-outcome');
  result.command = {
    outcome,
    status: await page.textContent('#cmd-status'),
    text: await page.textContent('#cmd-result'),
  };
  if (outcome !== 'ok') throw new Error(`the command was not answered: ${result.command.status}\n${result.command.text}`);
  result.steps.push('command');

  step = 'auth banner';
  // A request that carries a key is judged by it even when anonymous access is on: a wrong key must show a clear 401.
  await page.fill('#api-key', 'not-a-valid-key');
  await page.click('#key-form button');
  await page.waitForSelector('#auth-banner[data-status="401"]:not([hidden])', { timeout });
  result.authBanner = await page.textContent('#auth-banner');
  await page.fill('#api-key', '');
  await page.click('#key-form button');
  await page.waitForSelector('#auth-banner', { state: 'hidden', timeout });
  await page.waitForFunction(() => document.getElementById('live-state')?.textContent === 'live', null, { timeout });
  result.steps.push('auth');

  // The browser logs failed requests (the 401s above) as console errors; only script errors count from here.
  result.consoleErrors = consoleErrors.filter((e) => !e.includes('401'));
  if (env.SCREENSHOT_DIR) await page.screenshot({ path: join(env.SCREENSHOT_DIR, 'dashboard.png'), fullPage: true });
  if (env.DOCS_SCREENSHOT) {
    // For docs/dashboard.png: let the chart gather some history first.
    await page.waitForTimeout(Number(env.DOCS_SETTLE_MS || 0));
    await page.screenshot({ path: env.DOCS_SCREENSHOT, fullPage: true });
  }
  console.log(JSON.stringify(result));
} catch (error) {
  result.failedStep = step;
  result.error = String(error?.message ?? error);
  result.consoleErrors = consoleErrors;
  if (env.SCREENSHOT_DIR) {
    const path = join(env.SCREENSHOT_DIR, 'failure.png');
    await page.screenshot({ path, fullPage: true }).catch(() => {});
    result.screenshot = path;
  }
  result.html = (await page.content().catch(() => '')).slice(0, 4000);
  fail(`step '${step}' failed: ${result.error}`);
  console.log(JSON.stringify(result));
} finally {
  await browser.close().catch(() => {});
}
