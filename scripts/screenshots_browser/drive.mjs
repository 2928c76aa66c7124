// Drives Debian's Chromium through Home Assistant's UI for scripts/screenshots:
// log in; through "Add integration" sign in with Plex (simulated plex.tv, whose
// account owns two simulated servers) and add the second server, then add the
// first one with its address and token; open its device page, press a button,
// run plex_butler.start_task in Settings > Tools > Actions, stop the simulator
// and press a button. Every page is checked for the texts it must show, and the
// brand images for being our brand/ files as Home Assistant itself serves them;
// the README's pictures are taken on the way.
// Exits non-zero with a screenshot of the page (FAILURE_PNG) when a step fails.
import { chromium } from "playwright-core";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const HA_URL = env("HA_URL");
const PLEX_URL = env("PLEX_URL");
const PLEX_TOKEN = env("PLEX_TOKEN");
const SIM_LOG = env("SIM_LOG");
const SIM_PID = Number(env("SIM_PID"));
// Simulated plex.tv (PLEX_BUTLER_PLEX_TV of the hass process) and the log of the
// account's second server, the one the sign-in adds.
const PLEXTV_URL = env("PLEXTV_URL");
const SECOND_SIM_LOG = env("SECOND_SIM_LOG");
const OUT_DIR = env("OUT_DIR");
const FAILURE_PNG = env("FAILURE_PNG");
const HA_USER = process.env.HA_USER || "dev";
const HA_PASSWORD = process.env.HA_PASSWORD || "dev";
const SERVER_NAME = process.env.SERVER_NAME || "Living Room Plex";
const SECOND_SERVER_NAME = process.env.SECOND_SERVER_NAME || "Basement Plex";
// The menu's entries (translations/en.json, config.step.user.menu_options).
const MENU_SIGNIN = "Sign in with Plex (recommended)";
const MENU_MANUAL = "Enter the address and token";
const BRAND_DIR = new URL("../../custom_components/plex_butler/brand/", import.meta.url);
// Buttons the device page must show: everyday ones and a task new to the integration.
const EXPECTED_BUTTONS = ["Optimize database", "Back up database", "Clean old bundles", "SomeFutureTask"];
// Scheduled Tasks settings, on the device page's Configuration card.
const EXPECTED_SETTINGS = ["Back up database on schedule", "Maintenance window start", "Maintenance window end"];
// Rows and their states while the pressed backup runs: one activity, Busy is on,
// and the Activity event says that it started.
const EXPECTED_ACTIVITY = [
  ["Activities", "1"],
  ["Busy", "Running"],
  ["Activity", "Started"],
];
// The same rows once every task has ended.
const IDLE = [
  ["Activities", "0"],
  ["Busy", "Not running"],
  ["Activity", "Finished"],
];

const step = (text) => console.log(`screenshots: ${text}`);
// Requests for outside hosts, which the browser refuses (nothing leaves this machine).
const outsideRequests = [];
// Every URL any page of the browser asked for, popups included.
const requested = [];

// Wait for every text (a whole string, or a RegExp) to be visible, or fail naming
// the first one missing.
async function expectTexts(scope, where, texts) {
  for (const text of texts) {
    try {
      await scope.getByText(text, { exact: true }).first().waitFor({ timeout: 20_000 });
    } catch {
      throw new Error(`${where} does not show ${text instanceof RegExp ? text : `"${text}"`}`);
    }
  }
  step(`${where} shows ${texts.map((t) => (t instanceof RegExp ? t : `"${t}"`)).join(", ")}`);
}
// Wait for entity rows (found by their name) to show a state. The state is no
// element of its own, so getByText cannot see it: it is text the row slots in
// from its light DOM, which is what textContent reads (and the name is not).
async function expectRows(page, where, rows) {
  for (const [name, state] of rows) {
    const row = page.locator("hui-generic-entity-row").filter({ has: page.getByText(name, { exact: true }) });
    const deadline = Date.now() + 20_000;
    let seen = "";
    while (seen !== state) {
      if (Date.now() > deadline) throw new Error(`${where}: the row "${name}" shows "${seen}", not "${state}"`);
      await page.waitForTimeout(200);
      seen = await row
        .first()
        .evaluate((element) => element.textContent.replace(/\s+/g, " ").trim(), null, { timeout: 1_000 })
        .catch(() => "");
    }
  }
  step(`${where} shows the rows ${rows.map(([name, state]) => `${name}: "${state}"`).join(", ")}`);
}
// A form field's label; Home Assistant appends "*" to required ones.
const label = (text) => new RegExp(`^\\s*${text}\\s*\\*?\\s*$`);

async function waitForSimulatorRequest(line, seconds, log = SIM_LOG) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (readFileSync(log, "utf8").split("\n").includes(line)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the simulator (${log}) never logged "${line}"`);
}

// Settings > Devices & services > Add integration > Plex Butler: the menu.
async function openSetupMenu(page) {
  await page.goto(`${HA_URL}/config/integrations/dashboard`);
  await page.getByRole("button", { name: "Add integration" }).click();
  await page.getByPlaceholder("Search for a brand name").fill("Plex Butler");
  // The search result, not the card of the entries already added behind it.
  await page.getByRole("button", { name: "Plex Butler", exact: true }).click();
  const dialog = page.locator("dialog-data-entry-flow");
  await expectTexts(dialog, "the setup menu", ["Add your Plex Media Server", MENU_SIGNIN, MENU_MANUAL]);
  return dialog;
}

// The flow's last step names the devices: the server's, then its libraries'.
// Check them and close the dialog.
async function finishFlow(dialog, name) {
  await expectTexts(dialog, "the flow's last step", ["Plex Media Server", "Plex Media Server libraries"]);
  const names = await dialog.getByRole("textbox", { name: "Device name" }).evaluateAll((inputs) =>
    inputs.map((input) => input.value),
  );
  const wanted = [name, `${name} libraries`];
  if (names.join("|") !== wanted.join("|")) {
    throw new Error(`the devices are named ${JSON.stringify(names)}, not ${JSON.stringify(wanted)}`);
  }
  await dialog.getByRole("button", { name: /finish/i }).click();
}

// Park the pointer where nothing reacts to it and drop the keyboard focus, then
// let ripples and fades end, so that the picture is the same every run.
async function settle(page) {
  const { width, height } = page.viewportSize();
  await page.mouse.move(width - 2, height - 2);
  await page.evaluate(() => {
    let element = document.activeElement;
    while (element?.shadowRoot?.activeElement) element = element.shadowRoot.activeElement;
    element?.blur?.();
  });
  await page.waitForTimeout(600);
}

async function shoot(page, name) {
  await page.screenshot({ path: join(OUT_DIR, name) });
  step(`saved ${join(OUT_DIR, name)}`);
}

// Home Assistant >= 2026.3 serves a custom integration's brand/ folder itself, at
// /api/brands/integration/<domain>/<file>. Check that every brand image of ours on
// the page came from there, was drawn, and is byte for byte the file in brand/;
// and that the page never asked the internet for it. Returns the file names seen.
async function checkBrandImages(page, where, minimum) {
  const images = await page.evaluate(() => {
    const found = [];
    const walk = (node) => {
      for (const child of [...(node.shadowRoot?.children ?? []), ...node.children]) {
        if (child.tagName === "IMG" && child.src.includes("/plex_butler/")) {
          found.push({ src: child.src, drawn: child.complete && child.naturalWidth > 0 });
        }
        walk(child);
      }
    };
    walk(document.body);
    return found;
  });
  const names = [];
  for (const { src, drawn } of images) {
    const url = new URL(src);
    const match = url.pathname.match(/^\/api\/brands\/integration\/plex_butler\/([a-z_@0-9]+\.png)$/);
    if (url.origin !== new URL(HA_URL).origin || !match) {
      throw new Error(`${where}: our brand image comes from ${src}, not from Home Assistant's brands view`);
    }
    if (!drawn) throw new Error(`${where}: ${src} did not load`);
    const served = Buffer.from(await (await page.request.get(src)).body());
    if (!served.equals(readFileSync(new URL(match[1], BRAND_DIR)))) {
      throw new Error(`${where}: Home Assistant served a ${match[1]} that is not brand/${match[1]}`);
    }
    names.push(match[1]);
  }
  if (names.length < minimum) {
    throw new Error(`${where} shows ${names.length} brand images of ours, expected at least ${minimum}`);
  }
  const leaked = outsideRequests.filter((url) => url.includes("plex_butler"));
  if (leaked.length) throw new Error(`the page asked the internet for our brand: ${leaked.join(", ")}`);
  step(`${where}: brand/${[...new Set(names)].join(", brand/")} served by Home Assistant itself`);
}

async function run(page) {
  step(`log in to ${HA_URL} as ${HA_USER}`);
  await page.goto(HA_URL);
  await page.getByLabel("Username").fill(HA_USER);
  await page.getByLabel("Password", { exact: true }).fill(HA_PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(/\/(home|lovelace)\//, { timeout: 30_000 });

  // A Core (venv) install, like this one, gets a repair "deprecated installation
  // method" that Home Assistant OS and Container users never see. Ignore it, as
  // its user could, so that the Settings badge in the pictures is not about us.
  await page.waitForFunction(() => document.querySelector("home-assistant")?.hass?.callWS);
  const ignored = await page.evaluate(async () => {
    const hass = document.querySelector("home-assistant").hass;
    const { issues } = await hass.callWS({ type: "repairs/list_issues" });
    const ours = issues.filter((issue) => issue.domain === "plex_butler");
    if (ours.length) return { ours: ours.map((issue) => issue.issue_id) };
    const install = issues.filter((issue) => issue.domain === "homeassistant" && /^deprecated_|^unsupported_/.test(issue.issue_id));
    for (const issue of install) {
      await hass.callWS({ type: "repairs/ignore_issue", domain: issue.domain, issue_id: issue.issue_id, ignore: true });
    }
    return { ignored: install.map((issue) => issue.issue_id) };
  });
  if (ignored.ours) throw new Error(`Plex Butler raised repairs: ${ignored.ours.join(", ")}`);
  if (ignored.ignored.length) step(`ignored the install-method repair(s): ${ignored.ignored.join(", ")}`);

  step("Settings > Devices & services > Add integration > Plex Butler");
  let dialog = await openSetupMenu(page);
  await settle(page);
  await shoot(page, "setup-menu.png");

  step("Sign in with Plex: Home Assistant opens the (simulated) plex.tv page in a popup");
  const popupOpened = page.context().waitForEvent("page", { timeout: 20_000 });
  await dialog.getByText(MENU_SIGNIN, { exact: true }).click();
  const popup = await popupOpened;
  // The page signs the user in, sends the browser back to Home Assistant's
  // callback, and that page closes the window.
  if (!popup.isClosed()) await popup.waitForEvent("close", { timeout: 20_000 });
  const authUrl = `${PLEXTV_URL}/auth`;
  const callbackUrl = `${HA_URL}/api/plex_butler/auth_callback?`;
  if (!requested.some((url) => url.startsWith(authUrl))) {
    throw new Error(`the popup never asked for ${authUrl}: ${requested.slice(-5).join(", ")}`);
  }
  if (!requested.some((url) => url.startsWith(callbackUrl))) {
    throw new Error(`plex.tv's page never sent the browser back to ${callbackUrl}`);
  }
  step("the popup signed in at the simulated plex.tv, came back to Home Assistant and closed");

  const serverLabel = (name) => new RegExp(`^\\s*${name} \\(\\d[\\d.]*-[0-9a-f]+, local\\)\\s*$`);
  await expectTexts(dialog, "the server picker", [
    "Choose your Plex server",
    serverLabel(SERVER_NAME),
    serverLabel(SECOND_SERVER_NAME),
  ]);
  await dialog.getByRole("radio", { name: serverLabel(SECOND_SERVER_NAME) }).check();
  await settle(page);
  await shoot(page, "server-picker.png");
  await dialog.getByRole("button", { name: "Submit" }).click();
  await finishFlow(dialog, SECOND_SERVER_NAME);
  await waitForSimulatorRequest("REQUEST GET /butler -> 200", 15, SECOND_SIM_LOG);
  step(`${SECOND_SERVER_NAME} is added: its simulator answered GET /butler`);

  step(`add ${SERVER_NAME} with its address and token: fill in ${PLEX_URL} and the token`);
  dialog = await openSetupMenu(page);
  await dialog.getByText(MENU_MANUAL, { exact: true }).click();
  await expectTexts(dialog, "the address and token form", [label("Server URL"), label("Plex token")]);
  // The checkbox's text runs on into its description: find it by its name instead.
  await dialog.getByRole("checkbox", { name: "Verify SSL certificate" }).waitFor();
  // The fields' labels are not tied to their inputs for assistive tech here.
  await dialog.locator('input[name="url"]').fill(PLEX_URL);
  await dialog.locator('input[name="token"]').fill(PLEX_TOKEN);
  await settle(page);
  await shoot(page, "config-flow.png");
  await dialog.getByRole("button", { name: "Submit" }).click();

  step("finish the flow and open the device page");
  await finishFlow(dialog, SERVER_NAME);
  await page.goto(`${HA_URL}/config/devices/dashboard`);
  await page.getByText(SERVER_NAME, { exact: true }).first().click();
  await page.waitForURL(/\/config\/devices\/device\//);
  await expectTexts(page, "the device page", [SERVER_NAME, "Plex Butler", ...EXPECTED_BUTTONS]);

  step('press "Back up database"');
  const press = (name) =>
    page.locator("hui-button-entity-row", { hasText: name }).getByRole("button", { name: "Press" }).click();
  await press("Back up database");
  await waitForSimulatorRequest("REQUEST POST /butler/BackupDatabase -> 200", 15);
  step("the simulator received POST /butler/BackupDatabase and answered 200");

  step("the device page while the backup runs");
  // Home Assistant gives the device page three columns of at least 320 px when
  // they fit (from about a 1250 px window up) and two below: at 1200 px the
  // entity cards are wide enough for the settings' names.
  await page.setViewportSize({ width: 1200, height: 1150 });
  await expectTexts(page, "the device page", EXPECTED_SETTINGS);
  await expectRows(page, "the device page", EXPECTED_ACTIVITY);
  await settle(page);
  await checkBrandImages(page, "the device page", 2);
  await shoot(page, "device-page.png");
  const settings = page.locator("ha-device-entities-card", { hasText: "Back up database on schedule" });
  await settings.screenshot({ path: join(OUT_DIR, "device-page-settings.png") });
  step(`saved ${join(OUT_DIR, "device-page-settings.png")}`);

  step("Settings > Tools > Actions: plex_butler.start_task");
  await page.setViewportSize({ width: 1280, height: 1000 });
  await page.goto(`${HA_URL}/config/tools/action`);
  await page.getByText("Action", { exact: true }).first().click();
  await page.getByPlaceholder("Search").fill("plex_butler.start_task");
  await page.getByText("plex_butler.start_task", { exact: true }).click();
  // The fields' names come from translations/en.json (services.start_task.fields).
  await expectTexts(page, "the action form", [label("Server"), "The Plex server to run the task on.", label("Task")]);
  await page.getByText("Integration *").click();
  await page.getByText(SERVER_NAME, { exact: true }).last().click();
  const task = page.locator("ha-selector-select");

  step("the task dropdown offers the known tasks and takes any other name");
  await task.click();
  await expectTexts(page, "the task dropdown", ["Optimize database", "Back up database", "Refresh libraries"]);
  const search = page.getByPlaceholder(/Add custom item/);
  await search.fill("SomeFutureTask");
  await page.getByText(/SomeFutureTask/).last().click();
  const perform = page.getByRole("button", { name: "Perform action" });
  await perform.click();
  await expectTexts(page, "the action's response", ["Response"]);
  await page.locator("ha-code-editor", { hasText: "SomeFutureTask" }).waitFor();
  await waitForSimulatorRequest("REQUEST POST /butler/SomeFutureTask -> 200", 15);
  step("a typed task name ran: the simulator received POST /butler/SomeFutureTask");

  await task.click();
  await page.getByText("Optimize database", { exact: true }).last().click();
  await expectTexts(page, "the action form", ["optimize_database"]);
  await perform.click();
  const response = page.locator("ha-code-editor", { hasText: "OptimizeDatabase" });
  await response.waitFor();
  await expectTexts(response, "the action's response", ["OptimizeDatabase", "started"]);
  await waitForSimulatorRequest("REQUEST POST /butler/OptimizeDatabase -> 200", 15);
  // The button shows a tick for 2 s after success; picture it as a user reads the form.
  await page.waitForTimeout(2500);
  await settle(page);
  await shoot(page, "action-form.png");

  step("stop the simulator, then press a button: the error as a user meets it");
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${HA_URL}/config/devices/dashboard`);
  await page.getByText(SERVER_NAME, { exact: true }).first().click();
  await page.waitForURL(/\/config\/devices\/device\//);
  await expectTexts(page, "the device page", ["Optimize database"]);
  // Once the tasks started above have ended (the simulator runs each for 15 s):
  // activities a stopped server reported last would stay on the page, and this
  // picture is about the server being down.
  await expectRows(page, "the device page", IDLE);
  process.kill(SIM_PID, "SIGTERM");
  await press("Optimize database");
  await expectTexts(page, "the error toast", [
    `${SERVER_NAME} refused the connection. Check that Plex Media Server is running and that the address and port are right.`,
  ]);
  await page.waitForTimeout(400);
  await shoot(page, "action-error.png");
}

const profile = mkdtempSync(join(tmpdir(), "plex-butler-chromium-"));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1280, height: 900 },
  deviceScaleFactor: 1,
  locale: "en-US",
  timezoneId: "Europe/Amsterdam",
  colorScheme: "light",
  reducedMotion: "reduce",
});
browser.setDefaultTimeout(15_000);
// Nothing leaves this machine, and nothing is stood in for: the page gets what
// Home Assistant serves, and every request for another host is refused (and noted).
// Home Assistant cannot reach brands.home-assistant.io from here either, so core
// integrations (Backup) show no icon in the pictures; ours comes from brand/.
browser.on("request", (request) => requested.push(request.url()));
await browser.route(
  (url) => url.hostname !== "127.0.0.1",
  (route) => {
    outsideRequests.push(route.request().url());
    return route.abort("blockedbyclient");
  },
);
const page = browser.pages()[0] || (await browser.newPage());
let failed = false;
try {
  await run(page);
} catch (err) {
  failed = true;
  console.error(`screenshots: FAILED: ${err.message}`);
  await page.screenshot({ path: FAILURE_PNG }).catch(() => {});
  console.error(`screenshots: the page at the failure: ${FAILURE_PNG}`);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
