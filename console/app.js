// Tickroom console: the rooms of every mode with live numbers, a live room
// (the JSON WebSocket codec) drawn by its mode's renderer, and a replay page
// that rebuilds any stored room tick by tick on the server and draws it with
// the same renderer.
//
// A room is drawn by the renderer of its mode (`config.mode`): RENDERERS has
// the board, tic-tac-toe and the tabletop; any other mode gets GENERIC (its
// state as JSON, the event log, and a raw intent box). A renderer is
//   apply(state, kind, e)           applies one of the mode's events to the
//                                   joined state (data only; no drawing)
//   describe(kind, e, names, state) a line for the event log (optional; null
//                                   falls back to the common wording)
//   show(state, config, names)      a read-only element of a state (replay)
//   mount(room)                     the live room: { main, panels, render(),
//                                   logged?(kind, e), answered?(seq, ok, body),
//                                   cursors?(list) }
// The framework's part of a room (members, host, phase and its timer) is
// the same in every mode and kept here, outside the renderers.
"use strict";

const app = document.getElementById("app");
let cleanup = () => {};
const enc = encodeURIComponent;

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function svgText(attrs, text) {
  const t = s("text", attrs);
  t.textContent = text;
  return t;
}

function panel(title, ...children) {
  return h("div", { class: "panel" }, h("h3", {}, title), ...children);
}

function appendLog(el, text) {
  el.append(h("div", {}, text));
  el.scrollTop = el.scrollHeight;
}

/// The point of `svg` under a pointer event, in the svg's own units.
function svgPoint(svg, ev) {
  const pt = svg.createSVGPoint();
  pt.x = ev.clientX; pt.y = ev.clientY;
  return pt.matrixTransform(svg.getScreenCTM().inverse());
}

async function getJson(path) {
  const r = await fetch(path);
  const body = await r.json();
  if (!r.ok) throw new Error(`${body.code}: ${body.message}`);
  return body;
}

function route() {
  cleanup();
  cleanup = () => {};
  app.replaceChildren();
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").map(decodeURIComponent);
  const params = new URLSearchParams(query || "");
  if (parts[0] === "room" && parts[1]) roomPage(parts[1], params.get("mode"));
  else if (parts[0] === "replay" && parts[1]) replayPage(parts[1]);
  else if (parts[0] === "replay") replayList();
  else roomsPage();
}
window.addEventListener("hashchange", route);

// ---- The WebSocket ---------------------------------------------------------

const HELLO = { hello: { version: 2, token: null, resume: null } };

function openSocket() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  return new WebSocket(`${proto}://${location.host}/ws`, "tickroom.v1.json");
}

/// The modes the server serves (`welcome.modes`, the default first).
function serverModes() {
  return new Promise((resolve, reject) => {
    const ws = openSocket();
    ws.onopen = () => ws.send(JSON.stringify(HELLO));
    ws.onmessage = (msg) => {
      const m = JSON.parse(msg.data);
      ws.close();
      if (m.welcome) resolve(m.welcome.modes);
      else reject(new Error(JSON.stringify(m)));
    };
    ws.onerror = () => reject(new Error("the WebSocket failed"));
  });
}

// ---- Rooms -----------------------------------------------------------------

function roomsPage() {
  const body = h("tbody");
  const goto = h("input", { id: "goto-room", placeholder: "room id" });
  app.append(
    h("h2", {}, "Rooms"),
    h("p", {}, goto, " ", h("button", { id: "goto", onclick: () => { if (goto.value) location.hash = `#/room/${enc(goto.value)}`; } }, "Open"),
      h("span", { class: "muted" }, " (a room is created by its first join, with the server's default mode)")),
    createRoomForm(),
    h("table", { id: "rooms" },
      h("thead", {}, h("tr", {}, ["room", "mode", "phase", "members", "tick", "version", "node", ""].map((c) => h("th", {}, c)))),
      body),
  );
  const nodes = nodesSection();
  app.append(nodes.el);
  const refresh = async () => {
    try {
      const page = await getJson("/api/v1/rooms?limit=500");
      body.replaceChildren(...page.rooms.map(roomRow));
    } catch (e) {
      body.replaceChildren(h("tr", {}, h("td", { colspan: 8 }, String(e))));
    }
    nodes.refresh();
  };
  refresh();
  const timer = setInterval(refresh, 1000);
  cleanup = () => clearInterval(timer);
}

/// Cluster mode: the live nodes with their addresses and load (hidden on a
/// single node).
function nodesSection() {
  const body = h("tbody");
  const note = h("p", { class: "muted", id: "nodes-note" });
  const el = h("section", { id: "cluster", hidden: "" },
    h("h2", {}, "Nodes"), note,
    h("table", { id: "nodes" },
      h("thead", {}, h("tr", {}, ["node", "websocket", "quic", "modes", "rooms", "members", "tick load", "renews within"].map((c) => h("th", {}, c)))),
      body));
  const refresh = async () => {
    let answer;
    try {
      answer = await getJson("/api/v1/nodes");
    } catch (e) {
      el.hidden = false;
      note.textContent = `the node list is unavailable: ${e}`;
      return;
    }
    el.hidden = !answer.cluster;
    if (!answer.cluster) return;
    note.textContent = `${answer.nodes.length} live node(s); this console is served by ${answer.node}.`;
    body.replaceChildren(...answer.nodes.map((n) => h("tr", { "data-node": n.id, class: n.id === answer.node ? "self" : "" },
      h("td", {}, n.id), h("td", {}, n.ws), h("td", {}, n.quic || "—"),
      h("td", {}, n.modes.map((m) => `${m.name} v${m.version}`).join(", ")),
      h("td", { "data-rooms": n.rooms }, n.rooms), h("td", {}, n.members),
      h("td", {}, `${Math.round(n.tick_utilisation * 100)} %`), h("td", {}, `${n.expires_in_ms} ms`))));
  };
  return { el, refresh };
}

function roomRow(r) {
  return h("tr", { "data-room": r.room },
    h("td", {}, h("a", { href: `#/room/${enc(r.room)}` }, r.room)),
    h("td", { "data-mode": r.mode }, r.mode),
    h("td", {}, r.phase), h("td", {}, `${r.members}/${r.max_players}`),
    h("td", {}, r.tick), h("td", {}, r.version),
    // In cluster mode, the node the room runs on (the list spans the cluster).
    h("td", { "data-node": r.node || "" }, r.node || "—"),
    h("td", {}, h("a", { href: `#/replay/${enc(r.room)}` }, "replay")));
}

/// A room of a chosen mode: the room page creates it over the WebSocket
/// (`create_room`, no admin token needed) and then joins it.
function createRoomForm() {
  const id = h("input", { id: "new-room", placeholder: "room id", value: `room-${Math.floor(Math.random() * 10000)}` });
  const mode = h("select", { id: "new-mode" });
  const create = h("button", { id: "create", disabled: "" }, "Create");
  create.addEventListener("click", () => {
    if (id.value && mode.value) location.hash = `#/room/${enc(id.value)}?mode=${enc(mode.value)}`;
  });
  const offer = (modes) => {
    mode.replaceChildren(...modes.map((m) => h("option", { value: m.name }, m.version ? `${m.name} (v${m.version})` : m.name)));
    create.disabled = false;
  };
  serverModes().then(offer, () => offer(Object.keys(RENDERERS).map((name) => ({ name }))));
  return h("p", {}, "New room ", id, " of mode ", mode, " ", create);
}

// ---- The framework's part of every room ------------------------------------

const FRAMEWORK_EVENTS = new Set(["member_joined", "member_left", "member_disconnected",
  "member_reconnected", "team_changed", "host_changed", "phase_changed"]);
const FRAMEWORK_STATE_KEYS = new Set(["tick", "version", "phase", "match_ends_at", "archive_at",
  "host", "members", "state_hash"]);

function applyFrameworkEvent(state, kind, e) {
  const member = (id) => state.members.find((m) => m.id === id);
  switch (kind) {
    case "member_joined": state.members.push(e.member); break;
    case "member_left": state.members = state.members.filter((m) => m.id !== e.member); break;
    case "member_disconnected": if (member(e.member)) member(e.member).presence = "in_grace"; break;
    case "member_reconnected": if (member(e.member)) member(e.member).presence = "connected"; break;
    case "team_changed": if (member(e.member)) member(e.member).team = e.team; break;
    case "host_changed": state.host = e.host; break;
    case "phase_changed":
      state.phase = e.phase;
      if (e.phase === "live") state.match_ends_at = e.until;
      if (e.phase === "expired") state.archive_at = e.until;
      break;
    default: break;
  }
}

/// The mode's part of a state (what is left without the framework's keys).
function modePart(state) {
  return Object.fromEntries(Object.entries(state).filter(([k]) => !FRAMEWORK_STATE_KEYS.has(k)));
}

function who(names, id) {
  return names.get(id) || `member ${id}`;
}

function describeRoll(e, names) {
  const mod = e.modifier ? (e.modifier > 0 ? "+" : "") + e.modifier : "";
  return `${who(names, e.member)} rolled ${e.notation}: [${e.rolls.join(", ")}]${mod} = ${e.total}${e.private ? " (private)" : ""}`;
}

/// Wording shared by every mode: the framework's events, and the chat and
/// dice events the board and the tabletop have in common.
function describeCommon(kind, e, names) {
  switch (kind) {
    case "member_joined": return `${e.member.name} joined as ${e.member.role}`;
    case "member_left": return `${who(names, e.member)} left (${e.reason})`;
    case "host_changed": return e.host === null ? "the room has no host" : `${who(names, e.host)} is the host`;
    case "phase_changed": return `phase ${e.phase}`;
    case "chat_posted": return `${who(names, e.member)}: ${e.text}`;
    case "dice_rolled": return describeRoll(e, names);
    default: return `${kind} ${JSON.stringify(e)}`;
  }
}

function describeEvent(renderer, kind, e, names, state) {
  return (renderer.describe && renderer.describe(kind, e, names, state)) || describeCommon(kind, e, names);
}

function rendererFor(mode) {
  return RENDERERS[mode] || GENERIC;
}

/// The chat panel of the modes that have `chat {text}` and `chat_posted`.
function chatPanel(room) {
  const log = h("div", { class: "log", id: "chat" });
  const input = h("input", { id: "chat-text", placeholder: "say something" });
  const line = (text) => { appendLog(log, text); return true; };
  for (const l of room.state.chat || []) line(`${who(room.names, l.member)}: ${l.text}`);
  const submit = (ev) => {
    ev.preventDefault();
    if (!input.value) return;
    room.intent({ chat: { text: input.value } }, "chat");
    input.value = "";
  };
  return { el: panel("Chat", log, h("form", { onsubmit: submit }, input, h("button", { id: "chat-send" }, "Send"))), line };
}

// ---- The board -------------------------------------------------------------

const TEAM_COLORS = ["#4f7cff", "#ffb020", "#9c5cff", "#22b8a0", "#ff6b9a", "#7a8295"];

function drawBoard(svg, state, config, me, names) {
  svg.setAttribute("viewBox", `0 0 ${config.board_width} ${config.board_height}`);
  const r = Math.max(config.board_width, config.board_height) / 40;
  svg.replaceChildren(s("rect", { x: 0, y: 0, width: config.board_width, height: config.board_height, fill: "#fbfbfd" }));
  for (const p of state.pieces) {
    const holder = p.lock ? p.lock.holder : null;
    const cls = holder === null ? "piece" : holder === me ? "piece mine" : "piece theirs";
    const g = s("g", {
      class: cls, "data-piece": p.id, "data-x": p.pos.x, "data-y": p.pos.y,
      "data-lock": holder === null ? "" : (names.get(holder) || `member ${holder}`),
      transform: `translate(${p.pos.x} ${p.pos.y})`,
    });
    g.append(s("circle", { r, fill: p.team === null ? "#c4c8d2" : TEAM_COLORS[p.team % TEAM_COLORS.length] }));
    g.append(svgText({ "text-anchor": "middle", dy: 6 }, holder === null ? String(p.id) : `${p.id} · ${names.get(holder) || holder}`));
    svg.append(g);
  }
}

function applyBoardEvent(state, kind, e) {
  const piece = (id) => state.pieces.find((p) => p.id === id);
  switch (kind) {
    case "piece_moved": if (piece(e.piece)) piece(e.piece).pos = e.to; break;
    case "lock_taken": case "lock_renewed":
      if (piece(e.piece)) piece(e.piece).lock = { holder: e.holder, expires_at: e.expires_at }; break;
    case "lock_released": if (piece(e.piece)) piece(e.piece).lock = null; break;
    case "formation_applied": for (const pl of e.placements) if (piece(pl.piece)) piece(pl.piece).pos = pl.pos; break;
    case "chat_posted": state.chat.push({ tick: state.tick, member: e.member, text: e.text }); break;
    default: break;
  }
}

function mountBoard(room) {
  const { state, config, me, names } = room;
  const svg = s("svg", { class: "board", id: "board" });
  const cursors = new Map();
  const chat = chatPanel(room);
  const diceInput = h("input", { id: "dice", value: "2d6", size: 8 });
  const roll = (ev) => { ev.preventDefault(); room.intent({ roll_dice: { notation: diceInput.value } }, "roll"); };
  const startBtn = h("button", { id: "start", onclick: () => room.intent({ start_match: {} }, "start the match") }, "Start match");
  const archiveBtn = h("button", { id: "archive", onclick: () => room.intent({ archive_room: {} }, "archive the room") }, "Archive");

  function render() {
    drawBoard(svg, state, config, me, names);
    for (const [m, pos] of cursors) {
      if (m === me) continue;
      const c = s("g", { class: "cursor", transform: `translate(${pos.x} ${pos.y})` });
      c.append(s("path", { d: "M0 0 L0 24 L7 17 L17 17 Z", fill: "#d0342c" }));
      svg.append(c);
    }
    startBtn.disabled = !room.isHost() || state.phase !== "setup";
    archiveBtn.disabled = !room.isHost() || state.phase === "archived";
  }
  const onLockAnswer = dragPieces(svg, room, render);
  return {
    main: svg,
    panels: [
      panel("Match", room.phaseEl, startBtn, " ", archiveBtn),
      panel("Members", room.membersEl),
      chat.el,
      panel("Dice", h("form", { onsubmit: roll }, diceInput, h("button", { id: "roll" }, "Roll"))),
      panel("Events", room.eventsEl),
    ],
    render,
    logged: (kind, e) => kind === "chat_posted" && chat.line(describeCommon(kind, e, names)),
    answered: onLockAnswer,
    cursors: (list) => { for (const c of list) cursors.set(c.member, c.pos); render(); },
  };
}

/// Dragging a piece: take the lock; once it is granted, the drop moves the
/// piece and releases it. A refused lock shows the server's reason (the
/// room's status line) and the piece snaps back. Returns the hook the room
/// calls with each settled request.
function dragPieces(svg, room, render) {
  const { state, config } = room;
  const drags = new Map(); // lock request seq -> drag
  let drag = null;
  const finish = (d) => {
    if (d.refused) return render();
    if (!d.granted || !d.dropAt) return;
    room.intent({ move_piece: { piece: d.id, to: d.dropAt } }, `move piece ${d.id}`);
    room.intent({ release_lock: { piece: d.id } }, `release piece ${d.id}`);
  };
  const boardPos = (ev) => {
    const p = svgPoint(svg, ev);
    return { x: Math.round(Math.min(Math.max(p.x, 0), config.board_width - 1)), y: Math.round(Math.min(Math.max(p.y, 0), config.board_height - 1)) };
  };
  svg.addEventListener("pointerdown", (ev) => {
    const g = ev.target.closest(".piece");
    if (!g) return;
    const id = Number(g.dataset.piece);
    drag = { id, g, granted: false, refused: false, dropAt: null };
    drags.set(room.intent({ take_lock: { piece: id } }, `take the lock of piece ${id}`), drag);
    svg.setPointerCapture(ev.pointerId);
  });
  let lastCursor = 0;
  svg.addEventListener("pointermove", (ev) => {
    const pos = boardPos(ev);
    if (performance.now() - lastCursor > 50) {
      lastCursor = performance.now();
      room.send({ cursor: { pos } });
    }
    if (drag && !drag.refused) drag.g.setAttribute("transform", `translate(${pos.x} ${pos.y})`);
  });
  svg.addEventListener("pointerup", (ev) => {
    if (!drag) return;
    drag.dropAt = boardPos(ev);
    const d = drag;
    drag = null;
    finish(d);
  });
  return (seq, granted) => {
    const d = drags.get(seq);
    if (!d) return;
    drags.delete(seq);
    d.granted = granted;
    d.refused = !granted;
    finish(d);
  };
}

const BOARD = {
  apply: applyBoardEvent,
  show(state, config, names) {
    const svg = s("svg", { class: "board", id: "replay-board" });
    drawBoard(svg, state, config, null, names);
    return svg;
  },
  mount: mountBoard,
};

// ---- Tic-tac-toe -----------------------------------------------------------

const other = (mark) => (mark === "x" ? "o" : "x");

function applyTicTacToeEvent(state, kind, e) {
  switch (kind) {
    case "placed":
      state.cells[e.cell] = e.mark;
      state[e.mark] = e.member; // the first mark a member places seats it
      state.turn = other(e.mark);
      break;
    case "game_over": state.over = [e.winner, e.outcome]; break;
    case "reset":
      state.cells = state.cells.map(() => null);
      state.turn = "x";
      state.over = null;
      break;
    default: break;
  }
}

function describeTicTacToe(kind, e, names) {
  switch (kind) {
    case "placed": return `${who(names, e.member)} placed ${e.mark.toUpperCase()} on cell ${e.cell}`;
    case "game_over": return e.winner ? `game over: ${e.winner.toUpperCase()} wins (${e.outcome})` : `game over: ${e.outcome}`;
    case "reset": return "a new game";
    default: return null;
  }
}

/// Who plays, and whose turn it is or how the game ended.
function ticTacToeStatus(state, names) {
  const seat = (mark) => (state[mark] === null || state[mark] === undefined ? "—" : who(names, state[mark]));
  const players = `X: ${seat("x")} · O: ${seat("o")}`;
  if (!state.over) return `${players} — ${state.turn.toUpperCase()} to play`;
  const [winner, outcome] = state.over;
  return `${players} — ${winner ? `${winner.toUpperCase()} wins (${outcome})` : outcome}`;
}

/// The grid, row-major; `onCell` makes the cells buttons.
function ticTacToeGrid(state, id, onCell) {
  const n = Math.round(Math.sqrt(state.cells.length));
  return h("div", { class: "ttt", id, style: `grid-template-columns: repeat(${n}, 1fr)` },
    state.cells.map((mark, i) => h(onCell ? "button" : "div", {
      class: `cell ${mark || ""}`, "data-cell": i, "data-mark": mark || "",
      onclick: onCell ? () => onCell(i) : undefined,
    }, mark ? mark.toUpperCase() : "")));
}

function mountTicTacToe(room) {
  const { state, me, names } = room;
  const grid = h("div");
  const status = h("p", { id: "ttt-status", class: "big" });
  const mine = h("p", { id: "ttt-mark", class: "muted" });
  const place = (cell) => room.intent({ place: { cell } }, `place on cell ${cell}`);
  const reset = h("button", { id: "reset", onclick: () => room.intent({ reset: {} }, "reset") }, "New game");
  function render() {
    grid.replaceChildren(ticTacToeGrid(state, "ttt", place));
    status.textContent = ticTacToeStatus(state, names);
    status.dataset.turn = state.turn;
    status.dataset.over = state.over ? (state.over[0] || "draw") : "";
    const mark = state.x === me ? "x" : state.o === me ? "o" : null;
    mine.textContent = mark ? `you play ${mark.toUpperCase()}` : "you play the next free mark when you place one";
  }
  return {
    main: h("div", { class: "stage" }, grid, status, mine, reset),
    panels: [panel("Match", room.phaseEl), panel("Members", room.membersEl), panel("Events", room.eventsEl)],
    render,
  };
}

const TICTACTOE = {
  apply: applyTicTacToeEvent,
  describe: describeTicTacToe,
  show: (state, config, names) => h("div", { class: "stage" },
    ticTacToeGrid(state, "replay-ttt", null),
    h("p", { id: "replay-ttt-status", class: "big" }, ticTacToeStatus(state, names))),
  mount: mountTicTacToe,
};

// ---- The tabletop ------------------------------------------------------------

const CELL = 20; // svg units per map cell

function inArea(a, c) {
  return c.x >= a.x && c.y >= a.y && c.x < a.x + a.w && c.y < a.y + a.h;
}

/// Whether a token is under a region's fog (only the director sees those).
function fogged(state, token) {
  return state.regions.some((r) => !r.revealed && inArea(r.area, token.at));
}

function upsertToken(state, token) {
  state.tokens = state.tokens.filter((t) => t.id !== token.id).concat([token]).sort((a, b) => a.id - b.id);
}

function applyTabletopEvent(state, kind, e) {
  const token = (id) => state.tokens.find((t) => t.id === id);
  const region = (id) => state.regions.find((r) => r.id === id);
  const ini = state.initiative;
  switch (kind) {
    case "token_placed": case "token_appeared": upsertToken(state, e.token); break;
    case "token_moved": if (token(e.token)) token(e.token).at = e.to; break;
    case "token_removed": state.tokens = state.tokens.filter((t) => t.id !== e.token); break;
    // The director sees every token: for it nothing goes out of view.
    case "token_vanished": if (!state.sees_all) state.tokens = state.tokens.filter((t) => t.id !== e.token); break;
    case "token_assigned": if (token(e.token)) token(e.token).owner = e.owner; break;
    case "fog_added": state.regions = state.regions.filter((r) => r.id !== e.region.id).concat([e.region]); break;
    case "region_revealed": if (region(e.region)) region(e.region).revealed = true; break;
    case "region_covered": if (region(e.region)) region(e.region).revealed = false; break;
    case "turn_order": state.initiative = e.initiative; break;
    case "turn_changed": if (ini) { ini.current = Math.max(0, ini.order.indexOf(e.member)); ini.round = e.round; } break;
    case "initiative_ended": state.initiative = null; break;
    case "chat_posted": state.chat.push({ tick: state.tick, member: e.member, text: e.text }); break;
    default: break;
  }
}

function describeTabletop(kind, e, names, state) {
  const at = (c) => `(${c.x}, ${c.y})`;
  const tok = (id) => { const t = state && state.tokens.find((x) => x.id === id); return t ? t.name : `token ${id}`; };
  switch (kind) {
    case "token_placed": return `${e.token.name} placed at ${at(e.token.at)}`;
    case "token_appeared": return `${e.token.name} came into view at ${at(e.token.at)}`;
    case "token_moved": return `${tok(e.token)} moved to ${at(e.to)}`;
    case "token_removed": return `token ${e.token} removed`;
    case "token_vanished": return `token ${e.token} went out of view`;
    case "token_assigned": return `${tok(e.token)} is moved by ${e.owner === null ? "the director" : who(names, e.owner)}`;
    case "fog_added": return `fog ${e.region.id} over ${at(e.region.area)} ${e.region.area.w}×${e.region.area.h}`;
    case "region_revealed": return `fog ${e.region} lifted`;
    case "region_covered": return `fog ${e.region} covers again`;
    case "turn_order": return `initiative: ${e.initiative.order.map((m) => who(names, m)).join(", ")}`;
    case "turn_changed": return `${who(names, e.member)}'s turn (round ${e.round})`;
    case "initiative_ended": return "initiative ended: free play";
    default: return null;
  }
}

function drawMap(svg, state, me, names, canMove) {
  const w = state.map_width * CELL, hgt = state.map_height * CELL;
  svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
  const lines = [];
  for (let x = 1; x < state.map_width; x++) lines.push(`M${x * CELL} 0V${hgt}`);
  for (let y = 1; y < state.map_height; y++) lines.push(`M0 ${y * CELL}H${w}`);
  svg.replaceChildren(s("rect", { x: 0, y: 0, width: w, height: hgt, fill: "#f7f4ec" }), s("path", { d: lines.join(""), class: "grid" }));
  for (const r of state.regions) svg.append(drawRegion(r));
  for (const t of state.tokens) svg.append(drawToken(t, state, me, names, canMove));
}

function drawRegion(r) {
  const a = r.area;
  const g = s("g", { class: r.revealed ? "region revealed" : "region fog", "data-region": r.id, "data-revealed": r.revealed });
  g.append(s("rect", { x: a.x * CELL, y: a.y * CELL, width: a.w * CELL, height: a.h * CELL }));
  g.append(svgText({ x: a.x * CELL + 3, y: a.y * CELL + 11 }, `fog ${r.id}${r.revealed ? " (lifted)" : ""}`));
  return g;
}

function drawToken(t, state, me, names, canMove) {
  const hidden = fogged(state, t);
  const cls = ["token", t.owner !== null && t.owner === me ? "mine" : "", hidden ? "fogged" : "", canMove(t) ? "movable" : ""];
  const g = s("g", {
    class: cls.filter(Boolean).join(" "), "data-token": t.id, "data-name": t.name,
    "data-x": t.at.x, "data-y": t.at.y, "data-owner": t.owner === null ? "" : t.owner, "data-fogged": hidden ? "1" : "",
    transform: `translate(${(t.at.x + 0.5) * CELL} ${(t.at.y + 0.5) * CELL})`,
  });
  g.append(s("circle", { r: CELL * 0.4, fill: t.owner === null ? "#5b6478" : TEAM_COLORS[t.owner % TEAM_COLORS.length] }));
  g.append(svgText({ "text-anchor": "middle", y: CELL * 0.95 }, t.name));
  const title = s("title");
  title.textContent = `${t.name} at (${t.at.x}, ${t.at.y})${t.owner === null ? "" : `, moved by ${who(names, t.owner)}`}${hidden ? ", under fog" : ""}`;
  g.append(title);
  return g;
}

/// The map cell under an svg point, clamped to the map.
function cellAt(state, p) {
  const clamp = (v, n) => Math.min(Math.max(Math.floor(v / CELL), 0), n - 1);
  return { x: clamp(p.x, state.map_width), y: clamp(p.y, state.map_height) };
}

/// Dragging a token the member may move: the drop sends `move_token`; a
/// refusal re-renders the map (the room's `answered`), so it snaps back.
function dragTokens(svg, room, render) {
  let drag = null;
  svg.addEventListener("pointerdown", (ev) => {
    const g = ev.target.closest(".token.movable");
    if (!g) return;
    drag = { id: Number(g.dataset.token), g };
    svg.setPointerCapture(ev.pointerId);
  });
  svg.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const p = svgPoint(svg, ev);
    drag.g.setAttribute("transform", `translate(${p.x} ${p.y})`);
  });
  svg.addEventListener("pointerup", (ev) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    const to = cellAt(room.state, svgPoint(svg, ev));
    const t = room.state.tokens.find((x) => x.id === d.id);
    if (!t || (t.at.x === to.x && t.at.y === to.y)) return render();
    room.intent({ move_token: { token: d.id, to } }, `move ${t.name}`);
  });
}

function initiativePanel(room) {
  const list = h("ol", { id: "initiative" });
  const round = h("div", { id: "round", class: "muted" });
  const endTurn = h("button", { id: "end-turn", onclick: () => room.intent({ end_turn: {} }, "end the turn") }, "End my turn");
  const render = () => {
    const ini = room.state.initiative;
    round.textContent = ini ? `round ${ini.round}` : "free play (no initiative)";
    list.replaceChildren(...(ini ? ini.order : []).map((m, i) => h("li", { "data-member": m, class: i === ini.current ? "current" : "" },
      who(room.names, m), m === room.me ? " (you)" : "")));
    endTurn.disabled = !ini || ini.order[ini.current] !== room.me;
  };
  return { el: panel("Initiative", round, list, endTurn), render };
}

/// Replaces a select's options only when they changed (keeps the choice).
function syncOptions(select, options) {
  const key = JSON.stringify(options);
  if (select.dataset.options === key) return;
  const chosen = select.value;
  select.replaceChildren(...options.map(([value, label]) => h("option", { value }, label)));
  select.dataset.options = key;
  if (options.some(([value]) => value === chosen)) select.value = chosen;
}

function numberInput(id, value) {
  return h("input", { id, type: "number", min: 0, value, class: "num" });
}

function regionRow(room, r) {
  const a = r.area;
  const act = r.revealed
    ? h("button", { "data-cover": r.id, onclick: () => room.intent({ cover: { region: r.id } }, `cover fog ${r.id}`) }, "Cover")
    : h("button", { "data-reveal": r.id, onclick: () => room.intent({ reveal: { region: r.id } }, `reveal fog ${r.id}`) }, "Reveal");
  return h("li", { "data-region": r.id }, `fog ${r.id}: (${a.x}, ${a.y}) ${a.w}×${a.h}, ${r.revealed ? "lifted" : "hiding"} `, act);
}

/// The director's controls: tokens, fog, initiative. Hidden for players.
function directorPanel(room) {
  const { state } = room;
  const name = h("input", { id: "token-name", value: "token", size: 10, maxlength: 32 });
  const tx = numberInput("token-x", 0), ty = numberInput("token-y", 0);
  const owner = h("select", { id: "token-owner" });
  const fx = numberInput("fog-x", 0), fy = numberInput("fog-y", 0), fw = numberInput("fog-w", 5), fh = numberInput("fog-h", 5);
  const regions = h("ul", { id: "regions" });
  const picks = h("div", { id: "init-pick" });
  const chosen = new Map(); // member -> in the initiative (default: players)
  const inOrder = (m) => (chosen.has(m.id) ? chosen.get(m.id) : m.role === "player");
  const place = () => room.intent({ place_token: {
    name: name.value, at: { x: Number(tx.value), y: Number(ty.value) }, owner: owner.value === "" ? null : Number(owner.value),
  } }, `place ${name.value}`);
  const addFog = () => room.intent({ add_fog: { area: {
    x: Number(fx.value), y: Number(fy.value), w: Number(fw.value), h: Number(fh.value),
  } } }, "add fog");
  const setInitiative = () => room.intent({ set_initiative: { order: state.members.filter(inOrder).map((m) => m.id) } }, "set the initiative");
  const pick = (m) => h("label", { class: "pick" }, h("input", {
    type: "checkbox", "data-member": m.id, checked: inOrder(m) ? "" : undefined,
    onchange: (ev) => chosen.set(m.id, ev.target.checked),
  }), ` ${m.name} `);
  const el = panel("Director",
    h("div", { class: "row" }, "Token ", name, " at ", tx, ty, " for ", owner, " ", h("button", { id: "place-token", onclick: place }, "Place")),
    h("div", { class: "row" }, "Fog at ", fx, fy, " size ", fw, fh, " ", h("button", { id: "add-fog", onclick: addFog }, "Add fog")),
    regions,
    h("div", { class: "row" }, "Initiative ", picks,
      h("button", { id: "set-initiative", onclick: setInitiative }, "Set order"), " ",
      h("button", { id: "next-turn", onclick: () => room.intent({ next_turn: {} }, "next turn") }, "Next turn"), " ",
      h("button", { id: "end-initiative", onclick: () => room.intent({ end_initiative: {} }, "end the initiative") }, "Free play")),
  );
  el.id = "director";
  const render = () => {
    el.hidden = !room.isHost();
    syncOptions(owner, [["", "the director only"], ...state.members.filter((m) => m.role !== "spectator").map((m) => [String(m.id), m.name])]);
    regions.replaceChildren(...state.regions.map((r) => regionRow(room, r)));
    picks.replaceChildren(...state.members.filter((m) => m.role !== "spectator").map(pick));
  };
  return { el, render };
}

function tabletopDice(room) {
  const notation = h("input", { id: "dice", value: "1d20", size: 8 });
  const secret = h("input", { id: "roll-private", type: "checkbox" });
  const roll = (ev) => {
    ev.preventDefault();
    room.intent({ roll: { notation: notation.value, private: secret.checked } }, "roll");
  };
  return panel("Dice", h("form", { onsubmit: roll }, notation, " ", h("label", {}, secret, " private"), " ", h("button", { id: "roll" }, "Roll")),
    h("div", { class: "muted" }, "a private roll reaches only you and the director"));
}

function mountTabletop(room) {
  const { state, me, names } = room;
  const svg = s("svg", { class: "board map", id: "map" });
  const viewKind = h("div", { id: "view-kind" });
  const chat = chatPanel(room);
  const initiative = initiativePanel(room);
  const director = directorPanel(room);
  const canMove = (t) => room.isHost() || (t.owner !== null && t.owner === me);
  function render() {
    viewKind.dataset.view = state.sees_all ? "director" : "player";
    viewKind.textContent = state.sees_all ? "director view: you see everything, fog included" : "player view: fog hides what is under it";
    drawMap(svg, state, me, names, canMove);
    initiative.render();
    director.render();
  }
  dragTokens(svg, room, render);
  return {
    main: h("div", {}, viewKind, svg),
    panels: [panel("Match", room.phaseEl), initiative.el, director.el, panel("Members", room.membersEl),
      chat.el, tabletopDice(room), panel("Events", room.eventsEl)],
    render,
    // Chat and rolls (private ones labelled) go to the table's chat.
    logged: (kind, e) => (kind === "chat_posted" || kind === "dice_rolled") && chat.line(describeCommon(kind, e, names)),
    answered: (seq, ok) => { if (!ok) render(); },
  };
}

function showTabletop(state, config, names) {
  const svg = s("svg", { class: "board map", id: "replay-map" });
  drawMap(svg, state, null, names, () => false);
  const ini = state.initiative;
  return h("div", {}, svg,
    h("p", { class: "muted" }, ini
      ? `initiative, round ${ini.round}: ${ini.order.map((m, i) => (i === ini.current ? `[${who(names, m)}]` : who(names, m))).join(", ")}`
      : "free play (no initiative)"),
    h("div", { class: "log" }, state.chat.map((l) => h("div", {}, `${who(names, l.member)}: ${l.text}`))));
}

const TABLETOP = {
  apply: applyTabletopEvent,
  describe: describeTabletop,
  show: showTabletop,
  mount: mountTabletop,
  hostTitle: "director",
};

// ---- Any other mode ------------------------------------------------------------

/// A mode the console has no renderer for: its state as JSON (as sent when
/// the member joined: the console cannot apply its events), the event log,
/// and a box to send any intent as JSON.
const GENERIC = {
  apply() {},
  show: (state) => h("pre", { class: "json", id: "replay-state" }, JSON.stringify(state, null, 2)),
  mount(room) {
    const pre = h("pre", { class: "json", id: "state-json" }, JSON.stringify(modePart(room.state), null, 2));
    const raw = h("textarea", { id: "raw-intent", rows: 4, placeholder: '{"intent_name": {"field": 1}}' });
    const sendRaw = (ev) => {
      ev.preventDefault();
      let intent;
      try {
        intent = JSON.parse(raw.value);
      } catch (e) {
        return room.setStatus(`not JSON: ${e.message}`, true);
      }
      const name = intent && typeof intent === "object" ? Object.keys(intent)[0] : String(intent);
      room.intent(intent, `intent ${name}`);
    };
    return {
      main: h("div", {},
        h("p", { class: "muted" }, `The console has no renderer for mode "${room.config.mode}": `,
          `its state as it was when you joined (tick ${room.state.tick}); the events log shows what changed since.`),
        pre),
      panels: [panel("Match", room.phaseEl), panel("Members", room.membersEl),
        panel("Send an intent", h("form", { onsubmit: sendRaw }, raw, h("br"), h("button", { id: "raw-send" }, "Send"))),
        panel("Events", room.eventsEl)],
      render() {},
    };
  },
};

const RENDERERS = { board: BOARD, tictactoe: TICTACTOE, tabletop: TABLETOP };

// ---- A live room -------------------------------------------------------------

function roomPage(roomId, createMode) {
  const name = h("input", { id: "name", value: `guest-${Math.floor(Math.random() * 1000)}`, maxlength: 32 });
  const joinBtn = h("button", { id: "join" }, "Join as player");
  app.append(h("h2", {}, `Room ${roomId}`), h("p", {}, "Name ", name, " ", joinBtn),
    createMode ? h("p", { class: "muted", id: "create-note" }, `Creates the room as a ${createMode} room first, unless it exists.`) : "");
  joinBtn.addEventListener("click", () => live(roomId, name.value, createMode));
}

/// One member's connection to one room: the handshake, the `create_room`
/// when a mode was chosen, the join, and the requests. `pending` maps each
/// request's seq to what it was for; a request is settled by the delta whose
/// events carry its origin (protocol 2 sends no ack then), by an `ack`, or by
/// a `reject`.
function live(roomId, name, createMode) {
  const ws = openSocket();
  const status = h("div", { id: "status" }, "connecting…");
  const conn = { pending: new Map(), seq: 0, room: null };
  conn.send = (msg) => ws.send(JSON.stringify(msg));
  conn.request = (make, what) => {
    conn.seq += 1;
    conn.pending.set(conn.seq, what);
    conn.send(make(conn.seq));
    return conn.seq;
  };
  conn.intent = (intent, what) => conn.request((q) => ({ intent: { seq: q, intent } }), what);
  conn.settle = (seq, ok, body) => {
    if (!conn.pending.delete(seq)) return;
    if (conn.room) conn.room.answered(seq, ok, body);
  };
  conn.setStatus = (text, error = false) => {
    status.textContent = text;
    status.className = error ? "error" : "";
  };
  conn.status = status;
  app.replaceChildren(h("h2", {}, `Room ${roomId}`), status);

  const join = () => conn.request((q) => ({ join_room: { seq: q, room: roomId, name, team: null } }), "join");
  const creating = "create the room";
  const create = () => conn.request((q) => ({ create_room: { seq: q, room: roomId, config: { mode: createMode }, private: false } }), creating);
  const rejected = (b) => {
    const what = conn.pending.get(b.seq) || "request";
    if (what === creating && b.code === "ROOM_EXISTS") {
      conn.pending.delete(b.seq);
      conn.setStatus("the room exists already: joining it");
      return join();
    }
    conn.setStatus(`${what} refused — ${b.code}: ${b.message}`, true);
    conn.settle(b.seq, false, b);
  };
  const handlers = {
    room_created: (b) => { conn.pending.delete(b.seq); join(); },
    joined: (b) => { conn.pending.delete(b.seq); conn.room = mountRoom(conn, b); },
    delta: (b) => conn.room && conn.room.delta(b),
    cursors: (b) => conn.room && conn.room.cursors(b.cursors),
    reject: rejected,
    ack: (b) => conn.settle(b.seq, true),
    error: (b) => conn.setStatus(`${b.code}: ${b.message}`, true),
    closing: (b) => conn.setStatus(`${b.code}: ${b.reason}`, true),
  };
  ws.onopen = () => {
    conn.send(HELLO);
    if (createMode) create();
    else join();
  };
  ws.onclose = () => conn.setStatus("disconnected", true);
  ws.onmessage = (msg) => {
    const [kind, body] = Object.entries(JSON.parse(msg.data))[0];
    if (handlers[kind]) handlers[kind](body);
  };
  cleanup = () => {
    if (conn.room) conn.room.close();
    ws.onclose = null;
    ws.close();
  };
}

/// The joined room: the framework's panels (phase and timer, members, the
/// event log) and the mode's renderer around them; deltas are applied here.
function mountRoom(conn, joined) {
  const { state, config, member: me } = joined;
  const renderer = rendererFor(config.mode);
  const names = new Map();
  const refreshNames = () => { for (const m of state.members) names.set(m.id, m.name); };
  let lastTickAt = performance.now();
  const room = {
    id: joined.room, state, config, me, names,
    intent: conn.intent, send: conn.send, setStatus: conn.setStatus,
    isHost: () => state.host === me,
    phaseEl: h("div", { id: "phase" }),
    membersEl: h("ul", { id: "members" }),
    eventsEl: h("div", { class: "log", id: "events" }),
  };
  refreshNames();
  const view = renderer.mount(room);
  app.replaceChildren(
    h("h2", {}, `Room ${joined.room} `, h("span", { class: "mode", id: "room-mode" }, config.mode)),
    h("div", { class: "room" }, h("div", {}, view.main, conn.status), h("div", {}, ...view.panels)),
  );
  conn.setStatus(`joined as member ${me}`);

  const currentTick = () => state.tick + Math.floor(((performance.now() - lastTickAt) / 1000) * config.tick_rate_hz);
  const renderTimer = () => {
    let text = `phase: ${state.phase}`;
    const until = state.phase === "live" ? state.match_ends_at : state.phase === "expired" ? state.archive_at : null;
    if (until) {
      const secs = Math.max(0, Math.ceil((until - currentTick()) / config.tick_rate_hz));
      text += ` — ${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, "0")} left`;
    }
    room.phaseEl.textContent = text;
    room.phaseEl.dataset.phase = state.phase;
  };
  const hostTitle = renderer.hostTitle || "host";
  const renderMembers = () => room.membersEl.replaceChildren(...state.members.map((m) => h("li", { "data-member": m.id },
    `${m.name} (${m.role}${m.team === null ? "" : `, team ${m.team}`})${state.host === m.id ? ` ★ ${hostTitle}` : ""}${m.id === me ? " — you" : ""}${m.presence === "connected" ? "" : " — disconnected"}`)));
  const render = () => {
    refreshNames();
    renderMembers();
    renderTimer();
    view.render();
  };
  const applyRecord = (rec, tick) => {
    // An event of one of our requests acknowledges it (no ack frame).
    if (rec.origin.member === me && rec.origin.seq !== null) conn.settle(rec.origin.seq, true);
    const [kind, e] = Object.entries(rec.event)[0];
    if (FRAMEWORK_EVENTS.has(kind)) applyFrameworkEvent(state, kind, e);
    else renderer.apply(state, kind, e);
    refreshNames();
    if (!(view.logged && view.logged(kind, e))) appendLog(room.eventsEl, `t${tick} ${describeEvent(renderer, kind, e, names, state)}`);
  };
  render();
  const timer = setInterval(renderTimer, 250);
  return {
    delta(body) {
      state.tick = body.tick; state.version = body.to_version; lastTickAt = performance.now();
      for (const rec of body.events) applyRecord(rec, body.tick);
      render();
      // The tick's cursors ride in its delta (a cursors frame only when there is no delta).
      if (body.cursors && view.cursors) view.cursors(body.cursors);
    },
    cursors: (list) => view.cursors && view.cursors(list),
    answered: (seq, ok, body) => view.answered && view.answered(seq, ok, body),
    close: () => clearInterval(timer),
  };
}

// ---- Replay ------------------------------------------------------------------

async function replayList() {
  app.append(h("h2", {}, "Replay"), h("p", { class: "muted" }, "Every room in the store, rebuilt from its seed and log on the server."));
  const list = await getJson("/api/v1/history");
  app.append(h("table", { id: "history" },
    h("thead", {}, h("tr", {}, ["room", "mode", "last tick", "log from", "epoch", "archived"].map((c) => h("th", {}, c)))),
    h("tbody", {}, list.rooms.map((r) => h("tr", { "data-room": r.room },
      h("td", {}, h("a", { href: `#/replay/${enc(r.room)}` }, r.room)),
      h("td", { "data-mode": r.mode }, `${r.mode} v${r.mode_version}`),
      h("td", {}, r.last_tick), h("td", {}, r.log_from_tick), h("td", {}, r.epoch), h("td", {}, r.archived ? "yes" : ""))))));
}

function describeInput(i) {
  const from = i.input.member === null || i.input.member === undefined ? "server" : `member ${i.input.member}`;
  const seq = i.input.seq === null || i.input.seq === undefined ? "" : ` #${i.input.seq}`;
  const outcome = typeof i.outcome === "string" ? i.outcome : JSON.stringify(i.outcome);
  return `${from}${seq}: ${JSON.stringify(i.input.kind)} → ${outcome}`;
}

function describeDelta(delta) {
  if (!delta) return "nothing changed in this tick";
  const hash = delta.state_hash ? `, hash ${delta.state_hash}` : "";
  return `version ${delta.from_version} → ${delta.to_version}, ${delta.events.length} events${hash}`;
}

async function replayPage(roomId) {
  const slider = h("input", { type: "range", id: "tick-slider", min: 0, max: 0, value: 0 });
  const tickLabel = h("span", { id: "tick" });
  const hash = h("code", { id: "state-hash" });
  const mode = h("span", { class: "mode", id: "replay-mode" });
  const stage = h("div", { id: "replay-stage" });
  const deltaInfo = h("div", { class: "muted", id: "tick-delta" });
  const events = h("ol", { id: "tick-events" });
  const inputs = h("ol", { id: "tick-inputs" });
  const info = h("div", { class: "muted", id: "replay-info" });
  let latest = 0; // only the last tick asked for is shown
  const load = async (tick) => {
    const asked = ++latest;
    const view = await getJson(`/api/v1/history/${enc(roomId)}?tick=${tick}`);
    if (asked !== latest) return;
    const renderer = rendererFor(view.config.mode);
    const names = new Map(view.state.members.map((m) => [m.id, m.name]));
    slider.min = view.from_tick; slider.max = view.last_tick; slider.value = view.tick;
    tickLabel.textContent = `tick ${view.tick} of ${view.last_tick}`;
    tickLabel.dataset.tick = view.tick;
    hash.textContent = view.state_hash;
    mode.textContent = view.config.mode;
    info.textContent = `${view.state.members.length} members, phase ${view.state.phase}, ${view.hashes_checked} stored hashes checked on the way`;
    stage.replaceChildren(renderer.show(view.state, view.config, names));
    deltaInfo.textContent = describeDelta(view.delta);
    events.replaceChildren(...(view.delta ? view.delta.events : []).map((rec) => {
      const [k, e] = Object.entries(rec.event)[0];
      return h("li", {}, describeEvent(renderer, k, e, names, view.state));
    }));
    inputs.replaceChildren(...view.inputs.map((i) => h("li", {}, describeInput(i))));
  };
  const step = (d) => load(Math.min(Math.max(Number(slider.value) + d, Number(slider.min)), Number(slider.max)));
  slider.addEventListener("change", () => load(slider.value));
  app.append(
    h("h2", {}, `Replay of ${roomId} `, mode),
    h("div", { class: "replay-controls" },
      h("button", { id: "prev", onclick: () => step(-1) }, "◀ tick"), slider,
      h("button", { id: "next", onclick: () => step(1) }, "tick ▶"), tickLabel, "hash ", hash),
    info,
    h("div", { class: "room" }, stage,
      h("div", {}, h("div", { class: "panel" }, h("h3", {}, "Events of this tick"), deltaInfo, events),
        h("div", { class: "panel" }, h("h3", {}, "Inputs of this tick"), inputs))),
  );
  try {
    await load(0);
  } catch (e) {
    info.textContent = String(e);
  }
}

route();
