// Drives Debian's Chromium through Home Assistant's UI for scripts/screenshots:
// log in, add Plex Butler through "Add integration", screenshot the form and the
// device page, press a button, and prove the press reached the Plex simulator.
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
const OUT_DIR = env("OUT_DIR");
const FAILURE_PNG = env("FAILURE_PNG");
const HA_USER = process.env.HA_USER || "dev";
const HA_PASSWORD = process.env.HA_PASSWORD || "dev";
const SERVER_NAME = process.env.SERVER_NAME || "Living Room Plex";
// Buttons the device page must show: everyday ones and a task new to the integration.
const EXPECTED_BUTTONS = ["Optimize database", "Back up database", "Clean old bundles", "SomeFutureTask"];

const step = (text) => console.log(`screenshots: ${text}`);

async function waitForSimulatorRequest(line, seconds) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (readFileSync(SIM_LOG, "utf8").split("\n").includes(line)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the simulator never logged "${line}"`);
}

async function run(page) {
  step(`log in to ${HA_URL} as ${HA_USER}`);
  await page.goto(HA_URL);
  await page.getByLabel("Username").fill(HA_USER);
  await page.getByLabel("Password", { exact: true }).fill(HA_PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(/\/lovelace/, { timeout: 30_000 });

  step("Settings > Devices & services > Add integration > Plex Butler");
  await page.goto(`${HA_URL}/config/integrations/dashboard`);
  await page.getByRole("button", { name: "Add integration" }).click();
  await page.getByLabel("Search for a brand name").fill("Plex Butler");
  await page.getByText("Plex Butler", { exact: true }).click();

  step(`fill in ${PLEX_URL} and the token`);
  const dialog = page.locator("dialog-data-entry-flow");
  await dialog.getByText("Connect to your Plex Media Server").waitFor();
  await dialog.getByLabel("Server URL").fill(PLEX_URL);
  await dialog.getByLabel("Plex token").fill(PLEX_TOKEN);
  // Let the form settle (ripples, focus ring) so the picture is the same every run.
  await page.locator("body").click({ position: { x: 5, y: 5 }, force: true }).catch(() => {});
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(OUT_DIR, "config-flow.png") });
  step(`saved ${join(OUT_DIR, "config-flow.png")}`);
  await dialog.getByRole("button", { name: "Submit" }).click();

  step("finish the flow and open the device page");
  await dialog.getByText("Created configuration for").waitFor({ timeout: 30_000 });
  await dialog.getByRole("button", { name: "Finish" }).click();
  await page.goto(`${HA_URL}/config/devices/dashboard`);
  await page.getByText(SERVER_NAME, { exact: true }).first().click();
  await page.waitForURL(/\/config\/devices\/device\//);
  for (const name of EXPECTED_BUTTONS) {
    await page.getByText(name, { exact: true }).first().waitFor({ timeout: 20_000 });
  }
  step(`the device page lists ${EXPECTED_BUTTONS.join(", ")}`);
  // Tall enough for both button cards.
  await page.setViewportSize({ width: 1280, height: 1150 });
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(OUT_DIR, "device-page.png") });
  step(`saved ${join(OUT_DIR, "device-page.png")}`);

  step('press "Optimize database"');
  const row = page.locator("hui-button-entity-row", { hasText: "Optimize database" });
  await row.getByRole("button", { name: "Press" }).click();
  await waitForSimulatorRequest("REQUEST POST /butler/OptimizeDatabase -> 200", 15);
  step("the simulator received POST /butler/OptimizeDatabase and answered 200");
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
// Nothing leaves this machine: Home Assistant's pages load brand icons from a
// CDN, so serve ours from the repository and refuse every other outside request.
const ICON = readFileSync(new URL("../../custom_components/plex_butler/brand/icon.png", import.meta.url));
await browser.route(
  (url) => url.hostname !== "127.0.0.1",
  (route) => {
    if (/\/plex_butler\/(dark_)?icon(@2x)?\.png$/.test(new URL(route.request().url()).pathname)) {
      return route.fulfill({ status: 200, contentType: "image/png", body: ICON });
    }
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
