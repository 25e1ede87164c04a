// The arena's drawing for the dashboard's spectator view: the field from above, with its grid;
// avatars large in their team's colour (grey while dead), facing where they aim; projectiles
// small. The node serves this file at /v1/game/view.js (ArenaGame::spectator_view).
rallypoint.view("arena", (canvas, frame, teamColor) => {
  const g = canvas.getContext("2d");
  const span = frame.welcome.size;
  const scale = canvas.width / span;
  g.fillStyle = "#10141c";
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.strokeStyle = "#1c2330";
  g.lineWidth = 1;
  const grid = Math.max(10, Math.ceil(span / 20));
  for (let v = 0; v <= span; v += grid) {
    g.beginPath(); g.moveTo(v * scale, 0); g.lineTo(v * scale, canvas.height); g.stroke();
    g.beginPath(); g.moveTo(0, v * scale); g.lineTo(canvas.width, v * scale); g.stroke();
  }
  const teamOf = new Map(frame.players.filter((p) => p.avatar != null).map((p) => [p.avatar, p.team]));
  for (const e of frame.entities) {
    if (!e.position) continue;
    const x = e.position[0] * scale, y = e.position[1] * scale, s = e.fields;
    if (s.kind !== "Player") {
      g.fillStyle = "#ffd54f";
      g.beginPath(); g.arc(x, y, 3, 0, 2 * Math.PI); g.fill();
      continue;
    }
    const r = Math.max(6, scale * 1.5);
    g.fillStyle = s.hp === 0 ? "#484f58" : teamColor(teamOf.get(e.id) ?? 0);
    g.beginPath(); g.arc(x, y, r, 0, 2 * Math.PI); g.fill();
    g.strokeStyle = "#e6edf3";
    g.lineWidth = 2;
    g.beginPath(); g.moveTo(x, y); g.lineTo(x + Math.cos(s.angle) * r * 1.8, y + Math.sin(s.angle) * r * 1.8); g.stroke();
  }
});
