"use strict";
// optviz report: sortable tables, YAML highlighting and copy buttons, then (when the page has
// them) the race, the 3D surface and a sweep's sliders, drawn with plotly inflated from the page.

// The figures' palette (Okabe and Ito's), set from the page's data so a label keeps its PNG colour.
let COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];
const PLOT_CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["sendDataToCloud"]};

function escapeHtml(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// --- YAML: comments, keys, strings, numbers, booleans --------------------------------
const YAML_TOKEN = /((?:^|(?<=\s))#.*$)|('(?:[^']|'')*'|"(?:[^"\\]|\\.)*")|((?<=^|[{,\s-])[A-Za-z_][\w.\-]*(?=:(?:\s|$)))|((?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))|(\b(?:true|false|null)\b)/g;
const YAML_CLASS = ["c", "s", "k", "n", "b"];

function highlightYaml(text) {
  return text.split("\n").map(line => {
    let out = "", last = 0;
    for (const match of line.matchAll(YAML_TOKEN)) {
      const group = match.slice(1).findIndex(part => part !== undefined);
      out += escapeHtml(line.slice(last, match.index));
      out += `<span class="${YAML_CLASS[group]}">${escapeHtml(match[0])}</span>`;
      last = match.index + match[0].length;
    }
    return out + escapeHtml(line.slice(last));
  }).join("\n");
}

function showYaml(element, text) {
  element.dataset.text = text;
  element.innerHTML = highlightYaml(text);
}

function setupCopyButtons() {
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const text = source.dataset.text ?? source.textContent;
      try {
        await navigator.clipboard.writeText(text);
      } catch (error) {  // no clipboard API here (a file:// page in some browsers): select and copy
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        document.execCommand("copy");
      }
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
  }
}

// --- sortable tables ------------------------------------------------------------------
function sortKey(text) {
  const number = Number(text);
  return text.trim() !== "" && Number.isFinite(number) ? number : text;
}

function compareCells(a, b) {
  if (a === "" || b === "") return a === b ? 0 : (a === "" ? 1 : -1);  // empty cells last
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "number") return -1;
  if (typeof b === "number") return 1;
  return a.localeCompare(b, undefined, {numeric: true});
}

function setupSortableTables() {
  for (const table of document.querySelectorAll("table.sortable")) {
    const headers = [...table.tHead.rows[0].cells];
    headers.forEach((header, column) => header.addEventListener("click", () => {
      const descending = header.getAttribute("aria-sort") === "ascending";
      headers.forEach(other => other.removeAttribute("aria-sort"));
      header.setAttribute("aria-sort", descending ? "descending" : "ascending");
      const body = table.tBodies[0];
      const rows = [...body.rows].map(row => [sortKey(row.cells[column].textContent), row]);
      rows.sort((a, b) => {
        const order = compareCells(a[0], b[0]);
        return descending && a[0] !== "" && b[0] !== "" ? -order : order;
      });
      body.append(...rows.map(pair => pair[1]));
    }));
  }
}

// --- the data: JSON with markers into one gzip float32 block --------------------------
async function inflate(base64) {
  const bytes = Uint8Array.from(atob(base64.trim()), character => character.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function unpack(value, block) {
  if (Array.isArray(value)) return value.map(item => unpack(item, block));
  if (value && typeof value === "object") {
    if ("$f32" in value) {
      const [offset, length] = value.$f32;
      return Array.from(block.subarray(offset, offset + length), number => Number.isFinite(number) ? number : null);
    }
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, unpack(item, block)]));
  }
  return value;
}

// The block stores the floats' bytes as four planes (see optviz/render/report/pack.py): interleave them back.
function floats(planes) {
  const count = planes.length / 4;
  const bytes = new Uint8Array(planes.length);
  for (let plane = 0; plane < 4; plane++) {
    for (let index = 0; index < count; index++) bytes[index * 4 + plane] = planes[plane * count + index];
  }
  return new Float32Array(bytes.buffer);
}

async function loadPlotly() {
  const code = new TextDecoder().decode(await inflate(document.getElementById("plotly-block").textContent));
  const script = document.createElement("script");
  script.textContent = code;
  document.head.appendChild(script);
}

function rows(flat, width) {
  const out = [];
  for (let start = 0; start < flat.length; start += width) out.push(flat.slice(start, start + width));
  return out;
}

function colourOf(labels, label) {
  return COLOURS[labels.indexOf(label) % COLOURS.length];
}

function lastFinite(values, upTo) {
  for (let index = upTo; index >= 0; index--) if (values[index] !== null) return index;
  return -1;
}

function formatNumber(value) {
  if (typeof value !== "number") return String(value);
  if (value === 0) return "0";
  const size = Math.abs(value);
  return size >= 1e5 || size < 1e-4 ? value.toExponential(2).replace("e+", "e") : String(Number(value.toPrecision(4)));
}

function landscapeTrace(landscape, withScale) {
  if (landscape.y === undefined) {
    return {type: "scatter", mode: "lines", x: landscape.x, y: landscape.f, name: "f(x)", hoverinfo: "skip",
            line: {color: "#888", width: 1.5}, showlegend: false};
  }
  return {type: "contour", x: landscape.x, y: landscape.y, z: rows(landscape.z, landscape.x.length),
          colorscale: "Viridis", ncontours: 30, line: {width: 0.5}, opacity: 0.85, hoverinfo: "skip",
          showscale: withScale, colorbar: {title: {text: landscape.label, side: "right"}, thickness: 12},
          contours: {coloring: "fill"}};
}

function planeLayout(race, extra) {
  const twoD = race.landscape.y !== undefined;
  return Object.assign({
    margin: {l: 55, r: 20, t: 10, b: 45},
    xaxis: {title: {text: "x"}, range: race.domain[0], zeroline: false, constrain: "domain"},
    // One unit of x is one unit of y (path.png follows the domain's shape too): a stretched map misdraws
    // the directions paths take.
    yaxis: twoD ? {title: {text: "y"}, range: race.domain[1], zeroline: false, scaleanchor: "x", scaleratio: 1, constrain: "domain"}
                : {title: {text: race.landscape.label}},
    legend: {orientation: "h", y: -0.15},
    uirevision: "keep",
  }, extra || {});
}

// --- the race: paths up to the step, heads at it --------------------------------------
function drawRace(race) {
  const labels = [...new Set(race.paths.map(path => path.label))];
  const twoD = race.dim === 2;
  const along = path => twoD ? path.y : path.f;
  const traces = [landscapeTrace(race.landscape, true)];
  const seen = new Set();
  for (const path of race.paths) {
    const colour = colourOf(labels, path.label);
    traces.push({type: "scatter", mode: "lines", x: [], y: [], name: path.label, legendgroup: path.label,
                 showlegend: !seen.has(path.label), line: {color: colour, width: 2}, hoverinfo: "skip"});
    seen.add(path.label);
  }
  for (const path of race.paths) {
    traces.push({type: "scatter", mode: "markers", x: [], y: [], name: `${path.label} (head)`, legendgroup: path.label,
                 showlegend: false, marker: {color: colourOf(labels, path.label), size: 11, line: {color: "white", width: 1.5}},
                 hovertemplate: `${path.label}<br>x %{x:.4g}<br>${twoD ? "y" : "f"} %{y:.4g}<extra></extra>`});
  }
  const element = document.getElementById("race-plot");
  Plotly.newPlot(element, traces, planeLayout(race), PLOT_CONFIG);
  const slider = document.getElementById("race-step");
  const text = document.getElementById("race-step-text");
  const button = document.getElementById("race-play");
  const last = race.steps.length - 1;
  slider.max = String(last);
  const starts = race.starts > race.drawn_starts ? `; ${race.drawn_starts} of ${race.starts} starts drawn per optimizer` : "";
  document.getElementById("race-hint").textContent =
    `Play, or drag the slider through the ${race.steps.length} recorded steps shown${starts}.`;
  const count = race.paths.length;
  const show = step => {
    const lineX = [], lineY = [], headX = [], headY = [];
    for (const path of race.paths) {
      lineX.push(path.x.slice(0, step + 1));
      lineY.push(along(path).slice(0, step + 1));
      const head = lastFinite(path.x, step);
      headX.push(head < 0 ? [] : [path.x[head]]);
      headY.push(head < 0 ? [] : [along(path)[head]]);
    }
    const indices = [...Array(2 * count).keys()].map(index => index + 1);
    Plotly.restyle(element, {x: lineX.concat(headX), y: lineY.concat(headY)}, indices);
    slider.value = String(step);
    text.textContent = `step ${race.steps[step]}`;
    element.dataset.step = String(step);
  };
  let timer = null;
  const stop = () => { clearInterval(timer); timer = null; button.innerHTML = "&#9654; Play"; };
  button.addEventListener("click", () => {
    if (timer !== null) { stop(); return; }
    if (Number(slider.value) >= last) show(0);
    button.innerHTML = "&#10074;&#10074; Pause";
    timer = setInterval(() => {
      const next = Number(slider.value) + 1;
      if (next > last) { stop(); return; }
      show(next);
    }, 80);
  });
  slider.addEventListener("input", () => { stop(); show(Number(slider.value)); });
  show(last);
}

// --- the surface in 3D, the whole paths on it ------------------------------------------
function drawSurface(race) {
  const labels = [...new Set(race.paths.map(path => path.label))];
  const landscape = race.landscape;
  const traces = [{type: "surface", x: landscape.x, y: landscape.y, z: rows(landscape.z, landscape.x.length),
                   colorscale: "Viridis", opacity: 0.92, showscale: true, hoverinfo: "skip",
                   colorbar: {title: {text: landscape.label, side: "right"}, thickness: 12},
                   contours: {z: {show: true, usecolormap: true, project: {z: true}, width: 1}}}];
  // A path that leaves the map would shrink the surface to a speck: its points outside are left out.
  const [[xLow, xHigh], [yLow, yHigh]] = race.domain;
  const heights = landscape.z.filter(value => value !== null);
  const zLow = Math.min(...heights), zHigh = Math.max(...heights);
  const seen = new Set();
  for (const full of race.paths) {
    const inside = full.x.map((x, index) => x !== null && full.y[index] !== null && full.f[index] !== null &&
      x >= xLow && x <= xHigh && full.y[index] >= yLow && full.y[index] <= yHigh &&
      full.f[index] >= zLow && full.f[index] <= zHigh);
    const path = {x: full.x.map((x, index) => (inside[index] ? x : null)),
                  y: full.y.map((y, index) => (inside[index] ? y : null)),
                  f: full.f.map((f, index) => (inside[index] ? f : null)), label: full.label};
    const colour = colourOf(labels, path.label);
    traces.push({type: "scatter3d", mode: "lines", x: path.x, y: path.y, z: path.f, name: path.label,
                 legendgroup: path.label, showlegend: !seen.has(path.label), line: {color: colour, width: 6},
                 hoverinfo: "name"});
    seen.add(path.label);
    const end = lastFinite(path.x, path.x.length - 1);
    if (end >= 0) {
      traces.push({type: "scatter3d", mode: "markers", x: [path.x[end]], y: [path.y[end]], z: [path.f[end]],
                   legendgroup: path.label, showlegend: false, hoverinfo: "name", name: path.label,
                   marker: {color: colour, size: 5, line: {color: "white", width: 1}}});
    }
  }
  Plotly.newPlot("surface-plot", traces, {
    margin: {l: 0, r: 0, t: 0, b: 0}, legend: {orientation: "h", y: 0},
    scene: {xaxis: {title: {text: "x"}, range: [xLow, xHigh]}, yaxis: {title: {text: "y"}, range: [yLow, yHigh]},
            zaxis: {title: {text: landscape.label}, range: [zLow, zHigh]},
            camera: {eye: {x: 1.3, y: -1.5, z: 1.0}}, aspectmode: "manual", aspectratio: {x: 1, y: 1, z: 0.6}},
  }, PLOT_CONFIG);
}

// --- a sweep: one slider per axis, the map, the cell's path, curve and YAML ----------
function drawSweep(sweep) {
  const controls = document.getElementById("sweep-controls");
  const state = {optimizer: 0, at: []};
  let select = null;
  if (sweep.optimizers.length > 1) {
    const label = document.createElement("label");
    label.textContent = "optimizer ";
    select = document.createElement("select");
    select.id = "sweep-optimizer";
    sweep.optimizers.forEach((entry, index) => select.add(new Option(entry.label, String(index))));
    label.append(select);
    controls.append(label);
    select.addEventListener("change", () => { state.optimizer = Number(select.value); build(); });
  }
  const sliders = document.createElement("div");
  sliders.className = "controls";
  controls.append(sliders);
  const byPlace = entry => new Map(entry.cells.map(cell => [cell.at.join(","), cell]));
  let places = null;

  function best(entry) {
    const finite = entry.cells.filter(cell => cell.value !== null);
    if (!finite.length) return entry.cells[0];
    return finite.reduce((a, b) => (b.value < a.value ? b : a));
  }

  function build() {
    const entry = sweep.optimizers[state.optimizer];
    places = byPlace(entry);
    const start = best(entry);
    state.at = start ? [...start.at] : entry.axes.map(() => 0);
    sliders.replaceChildren();
    entry.axes.forEach((axis, index) => {
      const label = document.createElement("label");
      const name = document.createElement("span");
      name.textContent = axis.name;
      const slider = document.createElement("input");
      Object.assign(slider, {type: "range", min: "0", max: String(axis.values.length - 1), step: "1",
                             id: `sweep-axis-${index}`});
      slider.setAttribute("aria-label", axis.name);
      const output = document.createElement("output");
      output.id = `sweep-axis-${index}-value`;
      slider.addEventListener("input", () => { state.at[index] = Number(slider.value); select_(); });
      label.append(name, slider, output);
      sliders.append(label);
    });
    drawMap(entry);
    select_();
  }

  function shownValue(cell) {
    if (cell.value === null) return cell.status;
    return `${sweep.value} ${formatNumber(cell.value)}${cell.status !== "ok" ? ` (${cell.status})` : ""}`;
  }

  function mapValues(entry) {
    const positive = entry.cells.every(cell => cell.value === null || cell.value > 0);
    return {log: positive, of: cell => (cell && cell.value !== null ? (positive ? Math.log10(cell.value) : cell.value) : null)};
  }

  function axisLayout(axis) {
    const count = axis.values.length;
    const every = Math.max(1, Math.ceil(count / 8));
    const ticks = [...Array(count).keys()].filter(index => index % every === 0 || index === count - 1);
    return {title: {text: axis.name + (axis.log ? " (log-spaced)" : "")}, tickvals: ticks,
            ticktext: ticks.map(index => formatNumber(axis.values[index])), range: [-0.5, count - 0.5],
            zeroline: false, showgrid: false};
  }

  function drawMap(entry) {
    const element = document.getElementById("sweep-map");
    const values = mapValues(entry);
    const title = values.log ? `log10 ${sweep.value}` : sweep.value;
    let traces, layout;
    if (entry.axes.length >= 2) {
      const [across, up] = entry.axes;
      const z = up.values.map((_, row) => across.values.map((__, column) => {
        const at = [...state.at];
        at[0] = column; at[1] = row;
        return values.of(places.get(at.join(",")));
      }));
      const text = up.values.map((_, row) => across.values.map((__, column) => {
        const at = [...state.at];
        at[0] = column; at[1] = row;
        const cell = places.get(at.join(","));
        return cell ? `${cell.describe}<br>${shownValue(cell)}` : "not finished";
      }));
      traces = [{type: "heatmap", z, text, hovertemplate: "%{text}<extra></extra>", colorscale: "Viridis",
                 reversescale: true, colorbar: {title: {text: title, side: "right"}, thickness: 12}, xgap: 1, ygap: 1},
                {type: "scatter", mode: "markers", x: [state.at[0]], y: [state.at[1]], hoverinfo: "skip",
                 marker: {symbol: "square-open", size: 16, color: "#d62728", line: {width: 3}}, showlegend: false}];
      layout = {xaxis: axisLayout(across), yaxis: axisLayout(up), plot_bgcolor: "#d9d9d9"};
    } else {
      const axis = entry.axes[0];
      const x = axis.values.map((_, index) => index);
      const y = x.map(index => values.of(places.get(String(index))));
      traces = [{type: "scatter", mode: "lines+markers", x, y, name: sweep.value, marker: {size: 8},
                 text: x.map(index => { const cell = places.get(String(index)); return cell ? cell.describe : ""; }),
                 hovertemplate: "%{text}<br>%{y:.4g}<extra></extra>"},
                {type: "scatter", mode: "markers", x: [state.at[0]], y: [y[state.at[0]]], hoverinfo: "skip",
                 marker: {symbol: "circle-open", size: 18, color: "#d62728", line: {width: 3}}, showlegend: false}];
      layout = {xaxis: axisLayout(axis), yaxis: {title: {text: title}}, showlegend: false};
    }
    Plotly.react(element, traces, Object.assign({margin: {l: 70, r: 20, t: 30, b: 55},
      title: {text: "Click a cell to select it (grey: diverged or failed)", font: {size: 13}}}, layout), PLOT_CONFIG);
    if (!element.dataset.clickable) {
      element.dataset.clickable = "1";
      element.on("plotly_click", event => {
        const point = event.points[0];
        state.at[0] = Math.round(point.x);
        if (sweep.optimizers[state.optimizer].axes.length >= 2) state.at[1] = Math.round(point.y);
        select_();
      });
    }
  }

  function cellYaml(entry, position) {
    const yaml = entry.yaml;
    const own = yaml.cells[position];
    if (typeof own === "string") return own;
    const lines = [...yaml.lines];
    yaml.varying.forEach((line, index) => { lines[line] = own[index]; });
    return lines.join("\n") + "\n";
  }

  function select_() {
    const entry = sweep.optimizers[state.optimizer];
    entry.axes.forEach((axis, index) => {
      document.getElementById(`sweep-axis-${index}`).value = String(state.at[index]);
      document.getElementById(`sweep-axis-${index}-value`).textContent = formatNumber(axis.values[state.at[index]]);
    });
    const cell = places.get(state.at.join(","));
    const info = document.getElementById("sweep-cell");
    info.textContent = cell ? `Cell ${cell.index}: ${cell.describe} - ${shownValue(cell)}` : "This cell is not finished.";
    drawMap(entry);
    drawCell(entry, cell);
    const yaml = document.getElementById("cell-yaml");
    showYaml(yaml, cell ? cellYaml(entry, entry.cells.indexOf(cell)) : "");
  }

  function drawCell(entry, cell) {
    const pathElement = document.getElementById("sweep-path");
    if (sweep.landscape) {
      const twoD = sweep.landscape.y !== undefined;
      const traces = [landscapeTrace(sweep.landscape, false)];
      if (cell && cell.x) {
        const along = twoD ? cell.y : cell.f;
        const end = lastFinite(cell.x, cell.x.length - 1);
        traces.push({type: "scatter", mode: "lines", x: cell.x, y: along, name: "path", line: {color: "#d62728", width: 2.5},
                     hoverinfo: "skip"});
        traces.push({type: "scatter", mode: "markers", x: [cell.x[0]], y: [along[0]], name: "start",
                     marker: {color: "white", size: 10, line: {color: "black", width: 1.5}}});
        if (end >= 0) {
          traces.push({type: "scatter", mode: "markers", x: [cell.x[end]], y: [along[end]], name: cell.status === "ok" ? "end" : "last finite",
                       marker: {color: "#d62728", size: 11, symbol: "x", line: {color: "white", width: 1}}});
        }
      }
      Plotly.react(pathElement, traces, planeLayout({landscape: sweep.landscape, domain: [
        [Math.min(...sweep.landscape.x), Math.max(...sweep.landscape.x)],
        twoD ? [Math.min(...sweep.landscape.y), Math.max(...sweep.landscape.y)] : undefined]},
        {title: {text: "Path (first start)", font: {size: 13}}, margin: {l: 55, r: 20, t: 30, b: 45},
         legend: {orientation: "h", y: -0.18}}), PLOT_CONFIG);
    } else {
      pathElement.style.display = "none";
    }
    const positive = cell ? cell.loss.every(value => value === null || value > 0) : true;
    const lossTraces = cell ? [{type: "scatter", mode: "lines", x: cell.steps, y: cell.loss, name: cell.describe,
                                line: {color: "#1f77b4", width: 2}}] : [];
    Plotly.react("sweep-loss", lossTraces, {
      title: {text: sweep.network ? "Valid loss per epoch (mean over seeds)" : "Loss per step", font: {size: 13}},
      margin: {l: 60, r: 20, t: 30, b: 45}, xaxis: {title: {text: sweep.network ? "epoch" : "step"}},
      yaxis: {title: {text: "loss"}, type: positive ? "log" : "linear"}, showlegend: false,
    }, PLOT_CONFIG);
  }

  build();
}

function setStatus(text) {
  document.getElementById("status").textContent = text;
}

async function main() {
  setupSortableTables();
  setupCopyButtons();
  for (const element of document.querySelectorAll("pre.yaml")) showYaml(element, element.textContent);
  const data = JSON.parse(document.getElementById("report-data").textContent);
  if (data.colours) COLOURS = data.colours;
  if (data.race || data.sweep) {
    await loadPlotly();
    const planes = await inflate(document.getElementById("report-block").textContent);
    const unpacked = unpack(data, floats(planes));
    if (unpacked.sweep) drawSweep(unpacked.sweep);
    if (unpacked.race) {
      drawRace(unpacked.race);
      if (unpacked.race.dim === 2) drawSurface(unpacked.race);
    }
  }
  document.body.dataset.ready = "true";
}

main().catch(error => {
  setStatus(`The interactive figures could not be drawn: ${error}`);
  console.error(error);
  document.body.dataset.ready = "failed";
});
