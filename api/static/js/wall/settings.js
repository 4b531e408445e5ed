// What a wall shows and how, from its address: /static/wall.html#j=<jurisdiction>&kiosk=<token>
// &rotate=<s>&refresh=<s>&lang=<zh-CN|en>&figure=<people|online|silent|alerts|open> (the query
// string works too). A kiosk's token is kept in this browser and taken out of the address
// at once, so it is neither on screen nor in the history.

const KIOSK = "cordon.wall.kiosk";
const PLACE = "cordon.wall.jurisdiction";
const ROTATE = "cordon.wall.rotate";

function params() {
  const out = new URLSearchParams(location.search);
  for (const [k, v] of new URLSearchParams(location.hash.replace(/^#/, ""))) out.set(k, v);
  return out;
}

export function readSettings() {
  const p = params();
  if (p.get("kiosk")) {
    localStorage.setItem(KIOSK, p.get("kiosk"));
    p.delete("kiosk");
    history.replaceState(null, "", `${location.pathname}#${p}`);
  }
  if (p.get("j")) localStorage.setItem(PLACE, p.get("j"));
  if (p.has("rotate")) localStorage.setItem(ROTATE, p.get("rotate"));
  const number = (v, d) => (v != null && v !== "" && Number.isFinite(Number(v)) ? Number(v) : d);
  return {
    kiosk: localStorage.getItem(KIOSK),
    jurisdiction: p.get("j") || localStorage.getItem(PLACE),
    rotateS: number(localStorage.getItem(ROTATE), 0),
    refreshS: number(p.get("refresh"), 30),
    lang: p.get("lang"),
    figure: p.get("figure") || "alerts",
  };
}

export function keepRotation(seconds) { localStorage.setItem(ROTATE, String(seconds)); }
