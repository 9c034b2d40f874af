// Interactive 3D view of an analysed part (three.js, self-hosted) with its printability problems
// drawn on the model: open edges as red lines, thin-wall spots as orange points, overhang faces
// in amber, the suggested orientation on request.
//
// Mesh format (GET data-mesh-url, little-endian): "DHM1", uint32 vertex count, uint32 face
// count, float32 xyz per vertex (mm), uint32 three indices per face.
// State for tests: window.__viewer = {ready, error, triangles, info, snapshot()}.
import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";

const state = (window.__viewer = { ready: false, error: null, triangles: 0, info: null,
  snapshot: () => null });

const PART_COLOUR = 0x5b8fd6;
const OVERHANG_COLOUR = new THREE.Color(0xf0a020);
const EDGE_COLOUR = 0xe0302a;
const POINT_COLOUR = 0xc026d3;

function parseMesh(buffer) {
  const view = new DataView(buffer);
  const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 4));
  if (magic !== "DHM1") throw new Error("unexpected mesh format");
  const nv = view.getUint32(4, true);
  const nf = view.getUint32(8, true);
  const positions = new Float32Array(buffer, 12, nv * 3);
  if (nf === 0) return { positions, indices: null, nv, nf: nv / 3 }; // triangle soup
  const indices = new Uint32Array(buffer, 12 + nv * 12, nf * 3);
  return { positions, indices, nv, nf };
}

function problemsOf(json) {
  const out = { edges: [], points: [], faces: new Set(), boxes: [] };
  for (const p of json.problems || []) {
    const loc = p.location || {};
    for (const e of loc.edges || []) out.edges.push(e);
    for (const pt of loc.points || []) out.points.push(pt);
    for (const f of loc.faces || []) out.faces.add(f);
    if (loc.bbox) out.boxes.push(loc.bbox);
  }
  return out;
}

function buildPart(mesh, overhangFaces) {
  // Non-indexed so each face has its own flat normal and colour.
  const { positions, indices, nf } = mesh;
  const pos = indices ? new Float32Array(nf * 9) : positions;
  const col = new Float32Array(nf * 9);
  const base = new THREE.Color(PART_COLOUR);
  for (let f = 0; f < nf; f++) {
    const c = overhangFaces.has(f) ? OVERHANG_COLOUR : base;
    for (let k = 0; k < 3; k++) {
      if (indices) {
        const v = indices[f * 3 + k];
        pos.set(positions.subarray(v * 3, v * 3 + 3), f * 9 + k * 3);
      }
      col[f * 9 + k * 3] = c.r; col[f * 9 + k * 3 + 1] = c.g; col[f * 9 + k * 3 + 2] = c.b;
    }
  }
  const geometry = new THREE.BufferGeometry();
  geometry.setAttribute("position", new THREE.BufferAttribute(pos, 3));
  geometry.setAttribute("color", new THREE.BufferAttribute(col, 3));
  geometry.computeVertexNormals();
  const material = new THREE.MeshStandardMaterial({
    vertexColors: true, metalness: 0.05, roughness: 0.7, side: THREE.DoubleSide,
  });
  return new THREE.Mesh(geometry, material);
}

function buildEdges(edges) {
  const pos = new Float32Array(edges.length * 6);
  edges.forEach((e, i) => pos.set([...e[0], ...e[1]], i * 6));
  const g = new THREE.BufferGeometry();
  g.setAttribute("position", new THREE.BufferAttribute(pos, 3));
  const m = new THREE.LineBasicMaterial({ color: EDGE_COLOUR, depthTest: false });
  const lines = new THREE.LineSegments(g, m);
  lines.renderOrder = 2;
  return lines;
}

function buildPoints(points, size) {
  const pos = new Float32Array(points.length * 3);
  points.forEach((p, i) => pos.set(p, i * 3));
  const g = new THREE.BufferGeometry();
  g.setAttribute("position", new THREE.BufferAttribute(pos, 3));
  const m = new THREE.PointsMaterial({ color: POINT_COLOUR, size, depthTest: false });
  const pts = new THREE.Points(g, m);
  pts.renderOrder = 3;
  return pts;
}

function rotationOf(orientation) {
  // Accept a 3x3 or 4x4 matrix (row-major nested lists) or Euler angles in degrees.
  if (!orientation) return null;
  const m = orientation.rotation || orientation.matrix;
  if (Array.isArray(m) && m.length >= 3) {
    const r = new THREE.Matrix4();
    r.set(m[0][0], m[0][1], m[0][2], 0, m[1][0], m[1][1], m[1][2], 0,
      m[2][0], m[2][1], m[2][2], 0, 0, 0, 0, 1);
    return r;
  }
  const deg = orientation.rotation_deg || orientation.euler_deg;
  if (Array.isArray(deg) && deg.length === 3) {
    const e = new THREE.Euler(...deg.map((d) => THREE.MathUtils.degToRad(d)), "XYZ");
    return new THREE.Matrix4().makeRotationFromEuler(e);
  }
  return null;
}

async function main() {
  const root = document.getElementById("viewer");
  const analysis = JSON.parse(document.getElementById("part-analysis").textContent || "{}");
  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
  renderer.setClearColor(0xf3f6fa, 1);
  root.append(renderer.domElement);
  const scene = new THREE.Scene();
  const camera = new THREE.PerspectiveCamera(40, 4 / 3, 0.1, 100000);
  camera.up.set(0, 0, 1); // printers build along z
  scene.add(new THREE.HemisphereLight(0xffffff, 0x8090a0, 1.6));
  const sun = new THREE.DirectionalLight(0xffffff, 1.6);
  scene.add(sun);

  const resp = await fetch(root.dataset.meshUrl, { credentials: "same-origin" });
  if (!resp.ok) throw new Error(`mesh: HTTP ${resp.status}`);
  const mesh = parseMesh(await resp.arrayBuffer());
  const marks = problemsOf(analysis);
  const group = new THREE.Group();
  const part = buildPart(mesh, marks.faces);
  group.add(part);
  part.geometry.computeBoundingBox();
  const box = part.geometry.boundingBox;
  const size = box.getSize(new THREE.Vector3());
  const diag = Math.max(size.length(), 1);
  const layers = { edges: null, points: null, overhangs: part };
  if (marks.edges.length) group.add((layers.edges = buildEdges(marks.edges)));
  if (marks.points.length) group.add((layers.points = buildPoints(marks.points, diag / 60)));
  scene.add(group);

  // Place the part on a build plate: centred in x/y, resting on z = 0.
  const centre = box.getCenter(new THREE.Vector3());
  group.position.set(-centre.x, -centre.y, -box.min.z);
  const plate = new THREE.GridHelper(Math.ceil(diag * 1.5 / 10) * 10, 20, 0x9aa8b8, 0xd0d8e2);
  plate.rotation.x = Math.PI / 2;
  scene.add(plate);

  const controls = new OrbitControls(camera, renderer.domElement);
  controls.target.set(0, 0, size.z / 2);
  // far enough that the part's bounding sphere fits the narrower of the view's two angles
  // (with a margin), seen from the front right and a little above
  const aspect = (root.clientWidth || 640) / (root.clientHeight || 480);
  const half = THREE.MathUtils.degToRad(camera.fov / 2);
  const narrow = Math.min(half, Math.atan(Math.tan(half) * aspect));
  const away = new THREE.Vector3(0.75, -0.95, 0.65).normalize()
    .multiplyScalar((1.15 * diag / 2) / Math.sin(narrow));
  camera.aspect = aspect;
  camera.position.copy(controls.target).add(away);
  sun.position.set(diag, -diag, diag * 2);
  controls.update();

  function resize() {
    const w = root.clientWidth || 640;
    const h = root.clientHeight || 480;
    renderer.setSize(w, h, false);
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
    render();
  }
  function render() {
    renderer.render(scene, camera); // OrbitControls update themselves and emit "change"
  }
  controls.addEventListener("change", render);
  new ResizeObserver(resize).observe(root);

  // Layer toggles and the suggested orientation.
  for (const input of document.querySelectorAll("[data-layer]")) {
    const layer = layers[input.dataset.layer];
    if (!layer) { input.disabled = true; continue; }
    input.addEventListener("change", () => {
      if (input.dataset.layer === "overhangs") {
        part.material.vertexColors = input.checked;
        part.material.color.set(input.checked ? 0xffffff : PART_COLOUR);
        part.material.needsUpdate = true;
      } else {
        layer.visible = input.checked;
      }
      render();
    });
  }
  const suggested = rotationOf(analysis.orientation);
  const orientButton = document.getElementById("show-orientation");
  // the orientation shown: the suggestion, or the one the price box says the part is priced
  // (and printed) in when the suggestion fits no printer in service (part.js)
  let rotation = suggested;
  let oriented = false;
  const place = () => {
    if (!rotation) return;
    group.matrixAutoUpdate = true;
    group.rotation.set(0, 0, 0);
    group.position.set(0, 0, 0);
    group.updateMatrix();
    if (oriented) group.applyMatrix4(rotation);
    group.updateMatrixWorld(true); // the box below reads world matrices
    const b = new THREE.Box3().setFromObject(part);
    const c = b.getCenter(new THREE.Vector3());
    group.position.x -= c.x; group.position.y -= c.y; group.position.z -= b.min.z;
    controls.target.set(0, 0, (b.max.z - b.min.z) / 2);
    controls.update();
    orientButton.setAttribute("aria-pressed", String(oriented));
    render();
  };
  const printedIn = (matrix) => {
    rotation = matrix ? rotationOf({ rotation: matrix }) : suggested;
    state.printRotation = matrix || null;
    if (orientButton) {
      orientButton.hidden = !rotation || (!matrix && analysis.orientation.changed === false);
    }
    if (oriented) place();
  };
  if (orientButton) {
    orientButton.addEventListener("click", () => {
      oriented = !oriented;
      place();
    });
    printedIn((window.__price && window.__price.last && window.__price.last.orientation
      && window.__price.last.orientation.rotation) || null);
    document.addEventListener("print-rotation", (event) => printedIn(event.detail));
  }

  resize();
  const gl = renderer.getContext();
  const dbg = gl.getExtension("WEBGL_debug_renderer_info");
  state.triangles = mesh.nf;
  state.info = {
    isWebGL2: renderer.capabilities.isWebGL2,
    renderer: dbg ? gl.getParameter(dbg.UNMASKED_RENDERER_WEBGL) : "",
    edges: marks.edges.length, points: marks.points.length, overhangFaces: marks.faces.size,
  };
  state.snapshot = () => { render(); return renderer.domElement.toDataURL("image/png"); };
  state.framed = () => { // whether every corner of the part's box is in the picture
    group.updateMatrixWorld(true);
    camera.updateMatrixWorld(true);
    const b = new THREE.Box3().setFromObject(part);
    const corners = [];
    for (const x of [b.min.x, b.max.x]) for (const y of [b.min.y, b.max.y]) {
      for (const z of [b.min.z, b.max.z]) corners.push(new THREE.Vector3(x, y, z).project(camera));
    }
    return corners.every((c) => Math.abs(c.x) <= 1 && Math.abs(c.y) <= 1);
  };
  state.placedBox = () => { // the part's box on the plate (mm): tests check the orientation
    group.updateMatrixWorld(true);
    const b = new THREE.Box3().setFromObject(part);
    return { min: b.min.toArray(), size: b.getSize(new THREE.Vector3()).toArray() };
  };
  state.ready = true;
  root.dataset.ready = "1";
}

main().catch((err) => {
  state.error = String(err && err.message ? err.message : err);
  const root = document.getElementById("viewer");
  if (root) {
    const msg = document.createElement("p");
    msg.className = "viewer-error";
    msg.textContent = root.dataset.errorText || state.error;
    root.append(msg);
  }
});
