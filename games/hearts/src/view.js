// Hearts' drawing for the dashboard's spectator view: the table from above, the trick in the
// middle, each seat's name, score and points this hand, and every hand face up, as an admin
// may see them, each on a violet tray marked with the one player who sees it. The node serves
// this file at /v1/game/view.js (HeartsGame::spectator_view).
rallypoint.view("hearts", (canvas, frame) => {
  const g = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  const FELT = "#0b5d2a", CARD = "#f4f1e8", TRAY = "#d2a8ff", TURN = "#ffd54f";
  const CW = 30, CH = 42, STEP = 20;
  const of = (kind) => frame.entities.filter((e) => e.fields.kind === kind);
  const table = of("Table")[0]?.fields;
  const seats = new Map(of("Seat").map((e) => [e.fields.seat, e.fields]));
  const hands = new Map(of("Hand").map((e) => [e.fields.seat, e]));
  // Seat 0 at the bottom, then clockwise (play passes to the left): left, top, right.
  const spots = [
    { x: W / 2, y: H - 30, dx: 1, dy: 0 },
    { x: 30, y: H / 2, dx: 0, dy: 1 },
    { x: W / 2, y: 30, dx: 1, dy: 0 },
    { x: W - 30, y: H / 2, dx: 0, dy: 1 },
  ];

  g.fillStyle = FELT;
  g.fillRect(0, 0, W, H);

  function card(x, y, name) {
    g.fillStyle = CARD;
    g.fillRect(x - CW / 2, y - CH / 2, CW, CH);
    g.strokeStyle = "#5d5a52";
    g.lineWidth = 1;
    g.strokeRect(x - CW / 2 + 0.5, y - CH / 2 + 0.5, CW - 1, CH - 1);
    g.fillStyle = /[♥♦]/.test(name) ? "#c62828" : "#111";
    g.font = "bold 12px system-ui";
    g.textAlign = "center";
    g.fillText(name, x, y - CH / 2 + 14);
  }

  for (let s = 0; s < 4; s++) {
    const spot = spots[s], hand = hands.get(s), seat = seats.get(s) ?? {};
    const cards = hand ? hand.fields.cards : [];
    const length = Math.max(0, cards.length - 1) * STEP;
    const x0 = spot.x - spot.dx * length / 2, y0 = spot.y - spot.dy * length / 2;
    if (hand) {
      // The tray marks a hand players other than its owner are never sent.
      g.strokeStyle = TRAY;
      g.lineWidth = 3;
      g.setLineDash([6, 4]);
      g.strokeRect(x0 - CW / 2 - 5, y0 - CH / 2 - 5, length * spot.dx + CW + 10, length * spot.dy + CH + 10);
      g.setLineDash([]);
    }
    cards.forEach((c, i) => card(x0 + i * STEP * spot.dx, y0 + i * STEP * spot.dy, c));
    const owner = hand?.seen_by?.owner ?? `seat ${s}`;
    const label = `${owner}: ${seat.score ?? 0} (+${seat.taken ?? 0})`;
    // Names by the hands: above the bottom one and the side ones, below the top one.
    const align = s === 1 ? "left" : s === 3 ? "right" : "center";
    const lx = spot.x + (s === 1 ? -20 : s === 3 ? 20 : 0);
    const ly = s === 0 ? spot.y - 64 : s === 2 ? spot.y + 46 : spot.y - length / 2 - 48;
    g.textAlign = align;
    g.font = "13px system-ui";
    g.fillStyle = table && table.turn === s ? TURN : "#e6edf3";
    g.fillText(label, lx, ly);
    if (hand) {
      g.fillStyle = TRAY;
      g.font = "11px system-ui";
      g.fillText(`hidden: only ${owner} sees it`, lx, ly + 14);
    }
  }

  if (table) {
    const centre = [[0, 40], [-50, 0], [0, -40], [50, 0]];
    table.trick.forEach((c, s) => {
      if (c) card(W / 2 + centre[s][0], H / 2 + centre[s][1], c);
    });
    g.fillStyle = "#e6edf3";
    g.font = "12px system-ui";
    g.textAlign = "left";
    g.fillText(`hand ${table.hand_number}${table.hearts_broken ? " · hearts broken" : ""}`, 10, 16);
  }
});
