// Bundles src/main.ts into dist/ with esbuild and prints the gzipped size of the app's JavaScript.
// `node build.mjs` (make web) — no CDN at run time: everything the page loads is in dist/.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET_GZIP_BYTES = 250 * 1024;
const dist = new URL("./dist/", import.meta.url);

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: ["src/main.ts"],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022"],
  sourcemap: false,
  legalComments: "external",
  outfile: "dist/app.js",
  logLevel: "warning",
});
// The service worker: its own script at the site's root (its scope), not part of app.js.
await build({
  entryPoints: ["src/sw.ts"],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2022"],
  outfile: "dist/sw.js",
  logLevel: "warning",
});
for (const name of ["index.html", "styles.css", "favicon.svg"]) {
  copyFileSync(new URL(`./static/${name}`, import.meta.url), new URL(name, dist));
}

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
const report = ["app.js", "styles.css"].map((name) => {
  const data = readFileSync(new URL(name, dist));
  return { name, raw: statSync(new URL(name, dist)).size, gzip: gzipSync(data, { level: 9 }).length };
});
for (const { name, raw, gzip } of report) {
  console.log(`web/dist/${name.padEnd(11)} ${kib(raw).padStart(10)}  (${kib(gzip)} gzipped)`);
}
const js = report[0].gzip;
if (js > BUDGET_GZIP_BYTES) {
  console.error(`app.js is ${kib(js)} gzipped, over the ${kib(BUDGET_GZIP_BYTES)} budget`);
  process.exit(1);
}
