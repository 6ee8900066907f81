// Tickroom console: rooms with live numbers, a live room (the JSON
// WebSocket codec: board, locks, cursors, timer, chat, dice, members), and a
// replay page that rebuilds any stored room tick by tick on the server.
"use strict";

const app = document.getElementById("app");
let cleanup = () => {};

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) el.setAttribute(k, v);
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
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "room" && parts[1]) roomPage(parts[1]);
  else if (parts[0] === "replay" && parts[1]) replayPage(parts[1]);
  else if (parts[0] === "replay") replayList();
  else roomsPage();
}
window.addEventListener("hashchange", route);

// ---- Rooms ---------------------------------------------------------------

function roomsPage() {
  const body = h("tbody");
  const goto = h("input", { id: "goto-room", placeholder: "room id" });
  app.append(
    h("h2", {}, "Rooms"),
    h("p", {}, goto, " ", h("button", { id: "goto", onclick: () => { if (goto.value) location.hash = `#/room/${encodeURIComponent(goto.value)}`; } }, "Open"),
      h("span", { class: "muted" }, " (a room is created by its first join)")),
    h("table", { id: "rooms" },
      h("thead", {}, h("tr", {}, ["room", "phase", "members", "tick", "version", ""].map((c) => h("th", {}, c)))),
      body),
  );
  const refresh = async () => {
    try {
      const page = await getJson("/api/v1/rooms?limit=500");
      body.replaceChildren(...page.rooms.map((r) => h("tr", { "data-room": r.room },
        h("td", {}, h("a", { href: `#/room/${encodeURIComponent(r.room)}` }, r.room)),
        h("td", {}, r.phase), h("td", {}, `${r.members}/${r.max_players}`),
        h("td", {}, r.tick), h("td", {}, r.version),
        h("td", {}, h("a", { href: `#/replay/${encodeURIComponent(r.room)}` }, "replay")))));
    } catch (e) {
      body.replaceChildren(h("tr", {}, h("td", { colspan: 6 }, String(e))));
    }
  };
  refresh();
  const timer = setInterval(refresh, 1000);
  cleanup = () => clearInterval(timer);
}

// ---- Board drawing, shared by the live room and the replay ---------------

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
    const label = s("text", { "text-anchor": "middle", dy: 6 });
    label.textContent = holder === null ? String(p.id) : `${p.id} · ${names.get(holder) || holder}`;
    g.append(label);
    svg.append(g);
  }
}

function applyEvent(state, ev) {
  const [kind, e] = Object.entries(ev)[0];
  const piece = (id) => state.pieces.find((p) => p.id === id);
  const member = (id) => state.members.find((m) => m.id === id);
  switch (kind) {
    case "member_joined": state.members.push(e.member); break;
    case "member_left": state.members = state.members.filter((m) => m.id !== e.member); break;
    case "member_disconnected": if (member(e.member)) member(e.member).presence = "in_grace"; break;
    case "member_reconnected": if (member(e.member)) member(e.member).presence = "connected"; break;
    case "team_changed": if (member(e.member)) member(e.member).team = e.team; break;
    case "host_changed": state.host = e.host; break;
    case "piece_moved": if (piece(e.piece)) piece(e.piece).pos = e.to; break;
    case "lock_taken": case "lock_renewed":
      if (piece(e.piece)) piece(e.piece).lock = { holder: e.holder, expires_at: e.expires_at }; break;
    case "lock_released": if (piece(e.piece)) piece(e.piece).lock = null; break;
    case "formation_applied": for (const pl of e.placements) if (piece(pl.piece)) piece(pl.piece).pos = pl.pos; break;
    case "chat_posted": state.chat.push({ tick: state.tick, member: e.member, text: e.text }); break;
    case "phase_changed":
      state.phase = e.phase;
      if (e.phase === "live") state.match_ends_at = e.until;
      if (e.phase === "expired") state.archive_at = e.until;
      break;
    default: break;
  }
  return [kind, e];
}

function describe(kind, e, names) {
  const who = (id) => names.get(id) || `member ${id}`;
  switch (kind) {
    case "dice_rolled": return `${who(e.member)} rolled ${e.notation}: [${e.rolls.join(", ")}]${e.modifier ? (e.modifier > 0 ? "+" : "") + e.modifier : ""} = ${e.total}`;
    case "chat_posted": return `${who(e.member)}: ${e.text}`;
    case "member_joined": return `${e.member.name} joined as ${e.member.role}`;
    default: return `${kind} ${JSON.stringify(e)}`;
  }
}

// ---- A live room ---------------------------------------------------------

function roomPage(roomId) {
  const name = h("input", { id: "name", value: `guest-${Math.floor(Math.random() * 1000)}`, maxlength: 32 });
  const joinBtn = h("button", { id: "join" }, "Join as player");
  app.append(h("h2", {}, `Room ${roomId}`), h("p", {}, "Name ", name, " ", joinBtn));
  joinBtn.addEventListener("click", () => live(roomId, name.value));
}

function live(roomId, name) {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws`, "tickroom.v1.json");
  let seq = 0;
  const pending = new Map();
  let state = null, config = null, me = null, lastTickAt = 0;
  let onLockAnswer = () => {};
  const cursors = new Map();
  const names = new Map();
  const send = (msg) => ws.send(JSON.stringify(msg));
  const request = (make, what) => { seq += 1; pending.set(seq, what); send(make(seq)); return seq; };
  const intent = (i, what) => request((q) => ({ intent: { seq: q, intent: i } }), what);

  const status = h("div", { id: "status" }, "connecting…");
  const svg = s("svg", { class: "board", id: "board" });
  const phase = h("div", { id: "phase" });
  const members = h("ul", { id: "members" });
  const chatLog = h("div", { class: "log", id: "chat" });
  const eventLog = h("div", { class: "log", id: "events" });
  const chatInput = h("input", { id: "chat-text", placeholder: "say something" });
  const diceInput = h("input", { id: "dice", value: "2d6", size: 8 });
  const startBtn = h("button", { id: "start", onclick: () => intent({ start_match: {} }, "start the match") }, "Start match");
  const archiveBtn = h("button", { id: "archive", onclick: () => intent({ archive_room: {} }, "archive the room") }, "Archive");
  app.replaceChildren(
    h("h2", {}, `Room ${roomId}`),
    h("div", { class: "room" },
      h("div", {}, svg, status),
      h("div", {},
        h("div", { class: "panel" }, h("h3", {}, "Match"), phase, startBtn, " ", archiveBtn),
        h("div", { class: "panel" }, h("h3", {}, "Members"), members),
        h("div", { class: "panel" }, h("h3", {}, "Chat"), chatLog,
          h("form", { onsubmit: (ev) => { ev.preventDefault(); if (chatInput.value) { intent({ chat: { text: chatInput.value } }, "chat"); chatInput.value = ""; } } },
            chatInput, h("button", { id: "chat-send" }, "Send"))),
        h("div", { class: "panel" }, h("h3", {}, "Dice"),
          h("form", { onsubmit: (ev) => { ev.preventDefault(); intent({ roll_dice: { notation: diceInput.value } }, "roll"); } },
            diceInput, h("button", { id: "roll" }, "Roll"))),
        h("div", { class: "panel" }, h("h3", {}, "Events"), eventLog))),
  );

  const setStatus = (text, error = false) => {
    status.textContent = text;
    status.className = error ? "error" : "";
  };
  const log = (el, text) => {
    el.append(h("div", {}, text));
    el.scrollTop = el.scrollHeight;
  };
  const currentTick = () => state.tick + Math.floor(((performance.now() - lastTickAt) / 1000) * config.tick_rate_hz);

  function render() {
    names.clear();
    for (const m of state.members) names.set(m.id, m.name);
    drawBoard(svg, state, config, me, names);
    for (const [m, pos] of cursors) {
      if (m === me) continue;
      const c = s("g", { class: "cursor", transform: `translate(${pos.x} ${pos.y})` });
      c.append(s("path", { d: "M0 0 L0 24 L7 17 L17 17 Z", fill: "#d0342c" }));
      svg.append(c);
    }
    members.replaceChildren(...state.members.map((m) => h("li", { "data-member": m.id },
      `${m.name} (${m.role}${m.team === null ? "" : `, team ${m.team}`})${state.host === m.id ? " ★ host" : ""}${m.id === me ? " — you" : ""}${m.presence === "connected" ? "" : " — disconnected"}`)));
    const isHost = state.host === me;
    startBtn.disabled = !isHost || state.phase !== "setup";
    archiveBtn.disabled = !isHost || state.phase === "archived";
    renderTimer();
  }
  function renderTimer() {
    if (!state) return;
    let text = `phase: ${state.phase}`;
    const until = state.phase === "live" ? state.match_ends_at : state.phase === "expired" ? state.archive_at : null;
    if (until) {
      const secs = Math.max(0, Math.ceil((until - currentTick()) / config.tick_rate_hz));
      text += ` — ${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, "0")} left`;
    }
    phase.textContent = text;
    phase.dataset.phase = state.phase;
  }
  const timer = setInterval(renderTimer, 250);
  cleanup = () => { clearInterval(timer); ws.close(); };

  ws.onopen = () => {
    send({ hello: { version: 2, token: null, resume: null } });
    request((q) => ({ join_room: { seq: q, room: roomId, name, team: null } }), "join");
  };
  ws.onclose = () => setStatus("disconnected", true);
  ws.onmessage = (msg) => {
    const m = JSON.parse(msg.data);
    const [kind, body] = Object.entries(m)[0];
    if (kind === "joined") {
      state = body.state; config = body.config; me = body.member; lastTickAt = performance.now();
      setStatus(`joined as member ${me}`);
      for (const line of state.chat) log(chatLog, `${line.member}: ${line.text}`);
      render();
    } else if (kind === "delta") {
      state.tick = body.tick; state.version = body.to_version; lastTickAt = performance.now();
      for (const rec of body.events) {
        // An event of one of our requests acknowledges it (no ack frame).
        if (rec.origin.member === me && rec.origin.seq !== null && pending.has(rec.origin.seq)) {
          pending.delete(rec.origin.seq);
          onLockAnswer(rec.origin.seq, true);
        }
        const [k, e] = applyEvent(state, rec.event);
        for (const mm of state.members) names.set(mm.id, mm.name);
        if (k === "chat_posted") log(chatLog, describe(k, e, names));
        else log(eventLog, `t${body.tick} ${describe(k, e, names)}`);
      }
      render();
    } else if (kind === "cursors") {
      for (const c of body.cursors) cursors.set(c.member, c.pos);
      if (state) render();
    } else if (kind === "reject") {
      const what = pending.get(body.seq) || "request";
      pending.delete(body.seq);
      setStatus(`${what} refused — ${body.code}: ${body.message}`, true);
      onLockAnswer(body.seq, false);
    } else if (kind === "ack") {
      pending.delete(body.seq);
      onLockAnswer(body.seq, true);
    } else if (kind === "error" || kind === "closing") {
      setStatus(`${body.code}: ${body.message || body.reason}`, true);
    }
  };

  // Dragging: take the lock; once it is granted, the drop moves the piece
  // and releases it. A refused lock shows the server's reason and the piece
  // snaps back.
  const drags = new Map(); // lock request seq -> drag
  let drag = null;
  const finish = (d) => {
    if (d.refused) return render();
    if (!d.granted || !d.dropAt) return;
    intent({ move_piece: { piece: d.id, to: d.dropAt } }, `move piece ${d.id}`);
    intent({ release_lock: { piece: d.id } }, `release piece ${d.id}`);
  };
  onLockAnswer = (seq, granted) => {
    const d = drags.get(seq);
    if (!d) return;
    drags.delete(seq);
    d.granted = granted;
    d.refused = !granted;
    finish(d);
  };
  const boardPos = (ev) => {
    const pt = svg.createSVGPoint();
    pt.x = ev.clientX; pt.y = ev.clientY;
    const p = pt.matrixTransform(svg.getScreenCTM().inverse());
    return { x: Math.round(Math.min(Math.max(p.x, 0), config.board_width - 1)), y: Math.round(Math.min(Math.max(p.y, 0), config.board_height - 1)) };
  };
  svg.addEventListener("pointerdown", (ev) => {
    const g = ev.target.closest(".piece");
    if (!g || !state) return;
    const id = Number(g.dataset.piece);
    drag = { id, g, granted: false, refused: false, dropAt: null };
    drags.set(intent({ take_lock: { piece: id } }, `take the lock of piece ${id}`), drag);
    svg.setPointerCapture(ev.pointerId);
  });
  let lastCursor = 0;
  svg.addEventListener("pointermove", (ev) => {
    if (!state) return;
    const pos = boardPos(ev);
    if (performance.now() - lastCursor > 50) {
      lastCursor = performance.now();
      send({ cursor: { pos } });
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
}

// ---- Replay --------------------------------------------------------------

async function replayList() {
  app.append(h("h2", {}, "Replay"), h("p", { class: "muted" }, "Every room in the store, rebuilt from its seed and log on the server."));
  const list = await getJson("/api/v1/history");
  app.append(h("table", { id: "history" },
    h("thead", {}, h("tr", {}, ["room", "last tick", "log from", "epoch", "archived"].map((c) => h("th", {}, c)))),
    h("tbody", {}, list.rooms.map((r) => h("tr", {},
      h("td", {}, h("a", { href: `#/replay/${encodeURIComponent(r.room)}` }, r.room)),
      h("td", {}, r.last_tick), h("td", {}, r.log_from_tick), h("td", {}, r.epoch), h("td", {}, r.archived ? "yes" : ""))))));
}

async function replayPage(roomId) {
  const slider = h("input", { type: "range", id: "tick-slider", min: 0, max: 0, value: 0 });
  const tickLabel = h("span", { id: "tick" });
  const hash = h("code", { id: "state-hash" });
  const svg = s("svg", { class: "board", id: "replay-board" });
  const events = h("ol", { id: "tick-events" });
  const inputs = h("ol", { id: "tick-inputs" });
  const info = h("div", { class: "muted", id: "replay-info" });
  let view = null;
  const load = async (tick) => {
    view = await getJson(`/api/v1/history/${encodeURIComponent(roomId)}?tick=${tick}`);
    slider.min = view.from_tick; slider.max = view.last_tick; slider.value = view.tick;
    tickLabel.textContent = `tick ${view.tick} of ${view.last_tick}`;
    tickLabel.dataset.tick = view.tick;
    hash.textContent = view.state_hash;
    info.textContent = `${view.state.members.length} members, phase ${view.state.phase}, ${view.hashes_checked} stored hashes checked on the way`;
    const names = new Map(view.state.members.map((m) => [m.id, m.name]));
    drawBoard(svg, view.state, view.config, null, names);
    events.replaceChildren(...(view.delta ? view.delta.events : []).map((rec) => {
      const [k, e] = Object.entries(rec.event)[0];
      return h("li", {}, describe(k, e, names));
    }));
    inputs.replaceChildren(...view.inputs.map((i) => h("li", {}, `${JSON.stringify(i.input.kind)} → ${typeof i.outcome === "string" ? i.outcome : JSON.stringify(i.outcome)}`)));
  };
  const step = (d) => load(Math.min(Math.max(Number(slider.value) + d, Number(slider.min)), Number(slider.max)));
  slider.addEventListener("change", () => load(slider.value));
  app.append(
    h("h2", {}, `Replay of ${roomId}`),
    h("div", { class: "replay-controls" },
      h("button", { id: "prev", onclick: () => step(-1) }, "◀ tick"), slider,
      h("button", { id: "next", onclick: () => step(1) }, "tick ▶"), tickLabel, "hash ", hash),
    info,
    h("div", { class: "room" }, svg,
      h("div", {}, h("div", { class: "panel" }, h("h3", {}, "Events of this tick"), events),
        h("div", { class: "panel" }, h("h3", {}, "Inputs of this tick"), inputs))),
  );
  try {
    await load(0);
  } catch (e) {
    info.textContent = String(e);
  }
}

route();
